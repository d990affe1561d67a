package update

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A release's kernel arguments go into a boot entry: a word the entry
// sets itself, or one that would break the options line, is refused
// with the file and the word named.
func TestReadReleaseChecksKernelArgs(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ args, want string }{
		{`["console=ttyS0,115200", "quiet"]`, ""},
		{`["berth.slot=B"]`, `kernel_args[0] "berth.slot=B": berth.slot is the boot entry's own`},
		{`["quiet", "a\nb"]`, `kernel_args[1] "a\nb"`},
	} {
		path := filepath.Join(dir, "release.json")
		if err := os.WriteFile(path, []byte(`{"version": "1.0.0", "kernel_args": `+c.args+`}`), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := ReadRelease(path)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.args, err)
		case c.want == "" && len(r.KernelArgs) != 2:
			t.Errorf("%s: read %q", c.args, r.KernelArgs)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), path+": "+c.want)):
			t.Errorf("%s: got %v, want it to say %q", c.args, err, c.want)
		}
	}
}
