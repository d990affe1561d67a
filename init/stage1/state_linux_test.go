package stage1

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"berth.dev/berth/internal/blockdev"
)

// A STATE whose primary superblock took a bad sector is rebuilt from its
// backup with its files; one that is not ext4 at all is refused, untouched
// (issue 15.9: two bytes of wrong magic used to reformat STATE).
func TestRepairSuperblock(t *testing.T) {
	for _, tool := range []string{"mkfs.ext4", "e2fsck", "debugfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing (e2fsprogs)", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	e2fsck := func(args ...string) *exec.Cmd { return exec.Command("e2fsck", args...) }
	dir := t.TempDir()
	img := filepath.Join(dir, "state.img")
	marker := filepath.Join(dir, "marker")
	os.WriteFile(marker, []byte("persistent data\n"), 0o644)
	for _, c := range [][]string{
		{"mkfs.ext4", "-q", "-F", "-b", "4096", "-L", "STATE", img, "256M"},
		{"debugfs", "-w", "-R", "write " + marker + " marker", img},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	f, _ := os.OpenFile(img, os.O_RDWR, 0)
	f.WriteAt(bytes.Repeat([]byte{0xa5}, 512), 1024) // a bad sector over the superblock
	f.Close()
	if k, _, _ := blockdev.DeviceExt4(img); k != blockdev.Ext4Damaged {
		t.Fatalf("corrupted superblock reads as %v", k)
	}
	if err := repairSuperblock(e2fsck, img); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("debugfs", "-R", "cat marker", img).Output()
	if err != nil || string(out) != "persistent data\n" {
		t.Fatalf("after the repair the file reads %q, %v", out, err)
	}

	junk := filepath.Join(dir, "junk.img")
	data := bytes.Repeat([]byte{0xaa}, 4<<20)
	os.WriteFile(junk, data, 0o644)
	err = repairSuperblock(e2fsck, junk)
	if err == nil || !strings.Contains(err.Error(), "from a backup superblock") {
		t.Fatalf("junk: %v", err)
	}
	if b, _ := os.ReadFile(junk); !bytes.Equal(b, data) {
		t.Fatal("junk was changed")
	}
}
