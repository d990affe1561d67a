package image

import (
	"os"
	"testing"
)

// The host's own root is a package tree too: /sbin/mke2fs on a Debian host
// needs libext2fs and libc through the loader.
func TestAddELF(t *testing.T) {
	if _, err := os.Stat("/sbin/mke2fs"); err != nil {
		t.Skip("no /sbin/mke2fs on this host")
	}
	tr := Tree{}
	if err := AddELF(tr, "/", "/sbin/mke2fs"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/sbin/mke2fs", "/lib64/ld-linux-x86-64.so.2"} {
		if _, ok := tr[want]; !ok {
			t.Errorf("%s missing; have %v", want, tr.Paths())
		}
	}
	if _, ok := tr.Resolve("/lib/x86_64-linux-gnu/libext2fs.so.2"); !ok {
		t.Errorf("libext2fs.so.2 does not resolve in the tree: %v", tr.Paths())
	}
	if _, ok := tr.Resolve("/lib/x86_64-linux-gnu/libc.so.6"); !ok {
		t.Errorf("libc.so.6 missing")
	}
}
