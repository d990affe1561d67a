package storage

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/mount/gpt"

	"berth.dev/berth/internal/layout"
)

// The image's own table needs nothing; the same table on a disk grown to
// 20 GiB gets STATE to the last whole MiB and the backup at the end, which
// sgdisk then finds sound; planning again changes nothing.
func TestPlanOnTheImageTable(t *testing.T) {
	ext, size := layout.Plan(layout.Layout)
	disk := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Truncate(disk, size)
	if out, err := exec.Command("sgdisk", append(layout.SgdiskArgs(layout.Layout, ext), disk)...).CombinedOutput(); err != nil {
		t.Fatalf("sgdisk: %v: %s", err, out)
	}
	read := func() (*gpt.GPT, uint64) {
		f, err := os.Open(disk)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		g, err := gpt.Table(f, gpt.HeaderOff)
		if err != nil {
			t.Fatal(err)
		}
		return g, uint64(st.Size()) / gpt.BlockSize
	}
	state := 3
	g, sectors := read()
	if _, _, changed, err := Plan(g, state, sectors); err != nil || changed {
		t.Fatalf("the image's own table: changed %v, %v", changed, err)
	}
	if _, _, _, err := Plan(g, 1, sectors); err == nil || !strings.Contains(err.Error(), "partition 2 is not the last") {
		t.Fatalf("ROOT-A: %v", err)
	}
	if _, _, _, err := Plan(g, state, sectors-4096); err == nil || !strings.Contains(err.Error(), "smaller than its table says") {
		t.Fatalf("a shrunk disk: %v", err)
	}

	os.Truncate(disk, 20<<30)
	g, sectors = read()
	prim, back, changed, err := Plan(g, state, sectors)
	if err != nil || !changed {
		t.Fatalf("grown disk: changed %v, %v", changed, err)
	}
	if want := uint64(20<<30)/gpt.BlockSize - 2048 - 1; prim.Parts[state].LastLBA != want {
		t.Fatalf("STATE ends at %d, want %d (the last whole MiB before the backup)", prim.Parts[state].LastLBA, want)
	}
	if prim.Parts[state].FirstLBA != uint64(ext[layout.LabelState].Start) || prim.Parts[2] != g.Parts[2] {
		t.Fatal("other fields moved")
	}
	write := func(gs ...*gpt.GPT) {
		f, err := os.OpenFile(disk, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, g := range gs {
			if err := WriteTable(f, g); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A cut once the backup is written: the primary still reads, points
	// at the old backup, and plans the same again.
	write(back)
	if g2, _ := read(); g2.BackupLBA == sectors-1 {
		t.Fatal("the primary changed with the backup")
	} else if p2, b2, changed, err := Plan(g2, state, sectors); err != nil || !changed || p2.Parts[state] != prim.Parts[state] || b2.PartStart != back.PartStart {
		t.Fatalf("after a cut: changed %v, %v", changed, err)
	}
	write(prim)
	if out, err := exec.Command("sgdisk", "-v", disk).CombinedOutput(); err != nil || !strings.Contains(string(out), "No problems found") {
		t.Fatalf("sgdisk -v: %v:\n%s", err, out)
	}
	g, sectors = read()
	if _, _, changed, err := Plan(g, state, sectors); err != nil || changed {
		t.Fatalf("after growing: changed %v, %v", changed, err)
	}
}
