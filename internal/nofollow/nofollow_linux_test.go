package nofollow

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveRootLinks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make links owned by root and by a user")
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "usr/lib/modules"), 0o755)
	os.MkdirAll(filepath.Join(dir, "home/bob"), 0o755)
	os.Symlink("usr/lib", filepath.Join(dir, "lib"))               // root's, relative
	os.Symlink(filepath.Join(dir, "usr"), filepath.Join(dir, "u")) // root's, absolute
	os.Symlink("/etc", filepath.Join(dir, "home/bob/data"))        // bob's
	os.Lchown(filepath.Join(dir, "home/bob/data"), 1000, 1000)
	os.Symlink("loop", filepath.Join(dir, "loop"))
	for in, want := range map[string]string{
		"lib/modules":          "usr/lib/modules",
		"u/lib/../lib/modules": "usr/lib/modules",
		"lib/modules/6.1/new":  "usr/lib/modules/6.1/new", // not there yet
		"home/bob":             "home/bob",
	} {
		got, err := ResolveRootLinks(filepath.Join(dir, in))
		if err != nil || got != filepath.Join(dir, want) {
			t.Errorf("%s: %q %v, want %s", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"home/bob/data/shadow": "data is a symbolic link to /etc owned by uid 1000",
		"loop/x":               "too many levels",
	} {
		if got, err := ResolveRootLinks(filepath.Join(dir, in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %q %v, want an error with %q", in, got, err, want)
		}
	}
	if _, err := OpenPath(filepath.Join(dir, "lib/modules")); err == nil || !strings.Contains(err.Error(), "lib: is a symbolic link to usr/lib") {
		t.Errorf("OpenPath through a link: %v", err)
	}
}
