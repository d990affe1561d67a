package image_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"berth.dev/berth/image"
	"berth.dev/berth/qemu/vmtest"
	"berth.dev/berth/update"
)

// TestRebuildIsByteIdentical builds the image a second time from the same
// binaries, packages and epoch as `make image` did, and compares: the
// initramfs and the root image must be the same bytes. The second build
// runs where the host's apt has no sources, lists or cache at all (empty
// file systems over /etc/apt, /var/lib/apt and /var/cache/apt), with
// fresh apt state of its own and a package cache that lacks the root
// image's packages: what it resolves and downloads comes from rootfs/apt
// alone.
func TestRebuildIsByteIdentical(t *testing.T) {
	b := vmtest.FindBuild(t)
	first, err := image.ReadRelease(filepath.Join(b.Dir, "release", "release.json"))
	if err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs("..")
	out := t.TempDir()
	l, err := image.ReadLock(filepath.Join(root, "rootfs", "packages.lock"))
	if err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(out, "cache")
	fetch := seedCache(t, filepath.Join(b.Dir, "cache"), cache, l, "root")
	t.Logf("the rebuild downloads %d packages: %v", len(fetch), fetch)

	build := strings.Join([]string{filepath.Join(b.Dir, "bin", "berth-image"), "build",
		"-version", first.Version, "-rootfs", filepath.Join(root, "rootfs"), "-bin", filepath.Join(b.Dir, "bin"),
		"-out", out, "-cache", cache, "-apt", filepath.Join(out, "apt"),
		// The root of trust make image built in.
		"-trust", filepath.Join(b.Dir, "keys", "root.json")}, " ")
	cmd := exec.Command("unshare", "--mount", "sh", "-ec",
		"for d in /etc/apt /var/lib/apt /var/cache/apt; do mount -t tmpfs none $d; done; exec "+build)
	cmd.Env = append(os.Environ(), fmt.Sprintf("SOURCE_DATE_EPOCH=%d", first.SourceDateEpoch))
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v", build, err)
	}
	for _, p := range fetch {
		if _, err := os.Stat(filepath.Join(cache, p.DebFile())); err != nil {
			t.Errorf("the rebuild did not download %s: %v", p, err)
		}
	}
	second, err := image.ReadRelease(filepath.Join(out, "release", "release.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"initrd.img", "root.img", "vmlinuz"} {
		if first.Parts[p] != second.Parts[p] {
			t.Errorf("%s differs between two builds: %+v vs %+v", p, first.Parts[p], second.Parts[p])
		}
	}
	// The installer ISO too: its ESP's file times, the ISO9660 dates and
	// volume UUID all come from the release.
	if err := image.ISO(out, t.Logf); err != nil {
		t.Fatal(err)
	}
	a, err := update.HashFile(filepath.Join(b.Dir, "images", "berth.iso"))
	if err != nil {
		t.Fatalf("%v: make test builds the ISO (make iso)", err)
	}
	if c, err := update.HashFile(filepath.Join(out, "images", "berth.iso")); err != nil || a != c {
		t.Errorf("berth.iso differs between two builds: %+v vs %+v (%v)", a, c, err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// seedCache links every package of the lock into dst but those of group,
// which it returns: the build must download them.
func seedCache(t *testing.T, src, dst string, l image.Lock, group string) []image.Pkg {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	skip := map[image.Pkg]bool{}
	for _, p := range l[group] {
		skip[p] = true
	}
	for g, ps := range l {
		for _, p := range ps {
			if skip[p] {
				continue
			}
			if err := os.Link(filepath.Join(src, p.DebFile()), filepath.Join(dst, p.DebFile())); err != nil && !os.IsExist(err) {
				t.Fatalf("[%s] %s: %v", g, p, err)
			}
		}
	}
	return l[group]
}
