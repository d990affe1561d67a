package blockdev

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ByLabel returns /dev/NAME for each GPT partition label found in sysfs.
func ByLabel(sysBlock string) map[string]string {
	out := map[string]string{}
	ents, _ := filepath.Glob(filepath.Join(sysBlock, "*", "uevent"))
	for _, u := range ents {
		f, err := os.Open(u)
		if err != nil {
			continue
		}
		m := ParseUevent(f)
		f.Close()
		if m["DEVTYPE"] == "partition" && m["PARTNAME"] != "" && m["DEVNAME"] != "" {
			out[m["PARTNAME"]] = "/dev/" + m["DEVNAME"]
		}
	}
	return out
}

// WaitLabels polls sysfs until every label is present or ctx ends, and
// returns what it found; the caller decides what a missing one means.
func WaitLabels(ctx context.Context, labels ...string) map[string]string {
	for {
		found := ByLabel("/sys/class/block")
		all := true
		for _, l := range labels {
			if _, ok := found[l]; !ok {
				all = false
			}
		}
		if all {
			return found
		}
		select {
		case <-ctx.Done():
			return found
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// DeviceExt4 opens dev and says what its superblock area holds, and for
// an ext4 one whether it is clean (see Ext4Clean).
func DeviceExt4(dev string) (kind Ext4Kind, clean bool, err error) {
	f, err := os.Open(dev)
	if err != nil {
		return Ext4Damaged, false, fmt.Errorf("open %s: %w", dev, err)
	}
	defer f.Close()
	if kind, err = Ext4At(f); err != nil || kind != Ext4Present {
		return kind, false, err
	}
	clean, err = Ext4Clean(f)
	return kind, clean, err
}
