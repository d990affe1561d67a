package image

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Two conversions of one disk give the same bytes in every format (the
// random IDs and the time qemu-img writes are replaced), qemu-img reads
// each back as the same disk, and the VHD footer's checksum holds.
func TestConvertDiskIsReproducible(t *testing.T) {
	dir := t.TempDir()
	disk := testDisk(t, dir)
	epoch := time.Unix(1700000000, 0)
	a, err := ConvertDisk(disk, filepath.Join(dir, "a"), []byte("seed"), epoch)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // a different time stamp, if any were left
	b, err := ConvertDisk(disk, filepath.Join(dir, "b"), []byte("seed"), epoch)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		x, _ := os.ReadFile(a[i])
		y, _ := os.ReadFile(b[i])
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two conversions", filepath.Base(a[i]))
		}
		out, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", Formats[i].QemuFormat, disk, a[i]).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Images are identical") {
			t.Errorf("qemu-img compare %s: %v: %s", a[i], err, out)
		}
		if strings.HasSuffix(a[i], ".vhd") {
			f := x[len(x)-512:]
			sum := binary.BigEndian.Uint32(f[64:])
			var c uint32
			for j, v := range f {
				if j < 64 || j > 67 {
					c += uint32(v)
				}
			}
			if ^c != sum || binary.BigEndian.Uint32(f[24:]) != uint32(epoch.Unix()-946684800) {
				t.Errorf("VHD footer: checksum %08x, want %08x; time %d", sum, ^c, binary.BigEndian.Uint32(f[24:]))
			}
		}
	}
}

// testDisk writes a 4 MiB raw disk into dir: text, then zeros.
func testDisk(t *testing.T, dir string) string {
	t.Helper()
	disk := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(disk, bytes.Repeat([]byte("berth disk "), 100000), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 4<<20); err != nil {
		t.Fatal(err)
	}
	return disk
}

// qemu-img writes the CID without leading zeros; the fix writes 8
// digits, moving the rest of the descriptor into its zero padding.
func TestFixVMDKShortCID(t *testing.T) {
	p := filepath.Join(t.TempDir(), "d.vmdk")
	desc := "# Disk DescriptorFile\nversion=1\nCID=abc12\nparentCID=ffffffff\n"
	os.WriteFile(p, append([]byte(desc), make([]byte, 512-len(desc))...), 0o644)
	if err := fixVMDK(p, []byte("seed"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	m := vmdkCID.FindSubmatch(b)
	if m == nil || len(m[1]) != 8 || len(b) != 512 || !strings.HasSuffix(strings.TrimRight(string(b), "\x00"), "\nparentCID=ffffffff\n") {
		t.Fatalf("fixed descriptor:\n%q", b)
	}
}
