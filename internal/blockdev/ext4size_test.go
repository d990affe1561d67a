package blockdev

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// The size mke2fs gives a file system is what Ext4Size reads back, with
// and without the 64bit feature and for two block sizes.
func TestExt4Size(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int64
	}{
		{[]string{"-b", "4096", "-O", "64bit"}, 64 << 20},
		{[]string{"-b", "1024", "-O", "^64bit"}, 64 << 20},
		{[]string{"-b", "4096"}, 48 << 20},
	} {
		img := filepath.Join(t.TempDir(), "fs.img")
		if err := os.WriteFile(img, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Truncate(img, 64<<20)
		size := tc.want / 1024
		args := append(append([]string{"-q", "-F", "-t", "ext4"}, tc.args...), img, strconv.FormatInt(size, 10)+"k")
		if out, err := exec.Command("mke2fs", args...).CombinedOutput(); err != nil {
			t.Fatalf("mke2fs %v: %v: %s", args, err, out)
		}
		f, _ := os.Open(img)
		n, err := Ext4Size(f)
		f.Close()
		if err != nil || n != tc.want {
			t.Errorf("mke2fs %v: Ext4Size %d, %v; want %d", tc.args, n, err, tc.want)
		}
	}
}
