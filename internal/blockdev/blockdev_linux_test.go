package blockdev

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseUevent(t *testing.T) {
	m := ParseUevent(strings.NewReader("MAJOR=254\nMINOR=2\nDEVNAME=vda2\nDEVTYPE=partition\nPARTN=2\nPARTNAME=ROOT-A\n"))
	if m["PARTNAME"] != "ROOT-A" || m["DEVNAME"] != "vda2" {
		t.Fatalf("got %v", m)
	}
}

func TestByLabel(t *testing.T) {
	dir := t.TempDir()
	for name, ev := range map[string]string{
		"vda":  "DEVNAME=vda\nDEVTYPE=disk\n",
		"vda2": "DEVNAME=vda2\nDEVTYPE=partition\nPARTNAME=ROOT-A\n",
		"vda4": "DEVNAME=vda4\nDEVTYPE=partition\nPARTNAME=STATE\n",
	} {
		os.MkdirAll(filepath.Join(dir, name), 0o755)
		os.WriteFile(filepath.Join(dir, name, "uevent"), []byte(ev), 0o644)
	}
	got := ByLabel(dir)
	if len(got) != 2 || got["ROOT-A"] != "/dev/vda2" || got["STATE"] != "/dev/vda4" {
		t.Fatalf("got %v", got)
	}
}

func TestExt4At(t *testing.T) {
	zero := bytes.NewReader(make([]byte, 4096))
	if k, err := Ext4At(zero); k != Ext4Blank || err != nil {
		t.Fatalf("zeroes: %v %v", k, err)
	}
	if _, err := Ext4At(bytes.NewReader(make([]byte, 100))); err == nil {
		t.Fatal("short device: no error")
	}
	// One bad sector over the magic is not a blank partition.
	bad := make([]byte, 4096)
	bad[1024+56], bad[1024+200] = 0xff, 1
	if k, err := Ext4At(bytes.NewReader(bad)); k != Ext4Damaged || err != nil {
		t.Fatalf("damaged: %v %v", k, err)
	}
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		t.Skip("mkfs.ext4 not installed")
	}
	img := filepath.Join(t.TempDir(), "fs")
	if out, err := exec.Command(mkfs, "-q", "-F", img, "4M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v %s", err, out)
	}
	f, _ := os.Open(img)
	defer f.Close()
	if k, err := Ext4At(f); k != Ext4Present || err != nil {
		t.Fatalf("ext4: %v %v", k, err)
	}
	if clean, err := Ext4Clean(f); !clean || err != nil {
		t.Fatalf("fresh ext4 not clean: %v %v", clean, err)
	}
	// Errors recorded, or a journal to replay (mounted, or a power cut).
	f.Close()
	g, _ := os.OpenFile(img, os.O_RDWR, 0)
	defer g.Close()
	g.WriteAt([]byte{0, 0}, 1024+58)
	if clean, err := Ext4Clean(g); clean || err != nil {
		t.Fatalf("state 0 reads clean: %v %v", clean, err)
	}
	g.WriteAt([]byte{1, 0}, 1024+58)
	var inc [4]byte
	g.ReadAt(inc[:], 1024+96)
	inc[0] |= 0x4 // a journal to replay
	g.WriteAt(inc[:], 1024+96)
	if clean, err := Ext4Clean(g); clean || err != nil {
		t.Fatalf("needs_recovery reads clean: %v %v", clean, err)
	}
}
