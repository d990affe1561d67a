package layout

import (
	"strings"
	"testing"
)

func TestPlan(t *testing.T) {
	ext, size := Plan(Layout)
	if ext[LabelESP].Start != 2048 {
		t.Fatalf("ESP starts at %d", ext[LabelESP].Start)
	}
	prev := int64(-1)
	for _, p := range Layout {
		e := ext[p.Label]
		if e.Start <= prev || e.Size() != p.SizeMB*MiB || e.Start%2048 != 0 {
			t.Fatalf("%s: %+v", p.Label, e)
		}
		prev = e.End
	}
	if want := (prev+1)*SectorSize + MiB; size != want {
		t.Fatalf("size %d, want %d", size, want)
	}
	args := strings.Join(SgdiskArgs(Layout, ext), " ")
	if !strings.Contains(args, "-c 4:STATE") || !strings.HasPrefix(args, "-o ") {
		t.Fatalf("sgdisk args %s", args)
	}
}
