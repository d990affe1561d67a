package storage

import (
	"context"
	"fmt"
	"os"
	"strings"

	"berth.dev/berth/internal/blockdev"
	"berth.dev/berth/internal/cmdline"
	"berth.dev/berth/internal/layout"
)

// PauseParam is the tests' power-cut seam: with berth.test.grow_pause=STEP
// on the kernel command line, growing stops for good after STEP (backup,
// primary), so that a test can cut the power there.
const PauseParam = "berth.test.grow_pause"

// AtBoot grows STATE when grow is true and STATE is what /var is mounted
// from; it logs what it did and returns the line os-ctl status shows, and
// a problem ("" when none). A STATE that cannot grow is a warning: the
// machine runs on as it is.
func AtBoot(ctx context.Context, logf func(string, ...any), params cmdline.Params, grow bool) (line, problem string) {
	dev, ok := blockdev.ByLabel("/sys/class/block")[layout.LabelState]
	if !ok || !mountedOnVar(dev) {
		return "STATE not mounted: nothing to grow", ""
	}
	if !grow {
		return fmt.Sprintf("%s, %s (not grown: berth.storage.grow is false)", dev, sizeOf(dev)), ""
	}
	step, _ := params.Get(PauseParam)
	pause := func(s string) error {
		if s == step {
			logf("storage: paused after the %s table (%s)", s, PauseParam)
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	r, err := Grow(ctx, dev, pause)
	if err != nil {
		logf("storage: STATE could not grow: %v", err)
		return fmt.Sprintf("%s, %s", dev, sizeOf(dev)), fmt.Sprintf("storage: STATE could not grow: %v", err)
	}
	if !r.Grown() {
		return fmt.Sprintf("%s, %s (fills its disk)", dev, gib(r.FSAfter)), ""
	}
	// Before is what the table said this boot: after a cut it may already
	// be the new size, with the file system still to grow.
	logf("storage: STATE %s grew: file system from %s to %s, partition from %s to %s", dev, gib(r.FSBefore), gib(r.FSAfter), gib(r.Before), gib(r.After))
	return fmt.Sprintf("%s, %s (grown from %s at this boot)", dev, gib(r.FSAfter), gib(r.FSBefore)), ""
}

func gib(n int64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }

func sizeOf(dev string) string {
	n, err := fsSize(dev)
	if err != nil {
		return "size unknown"
	}
	return gib(n)
}

// mountedOnVar reports whether dev is mounted (STATE is mounted at /state
// and bound to /var by stage 1).
func mountedOnVar(dev string) bool {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == dev && f[2] == "ext4" {
			return true
		}
	}
	return false
}
