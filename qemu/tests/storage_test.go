package tests

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/internal/layout"
	"berth.dev/berth/qemu"
	"berth.dev/berth/qemu/vmtest"
)

// A disk bigger than the image: STATE fills it at the first boot, and a
// file written then survives the next boot, which grows nothing. The disk
// grown again later grows again, even when the power goes right after the
// new backup table is written and the primary is then found damaged: the
// kernel reads the backup at the disk's end ("gpt") and the next boot
// finishes the job.
func TestStateGrowsIntoTheDisk(t *testing.T) {
	t.Parallel()
	b := vmtest.FindBuild(t)
	cfg := direct(b, "A")
	cfg.Dir = t.TempDir()
	if err := qemu.Prepare(cfg); err != nil {
		t.Fatal(err)
	}
	ov := qemu.Overlay(cfg.Dir)
	if err := qemu.Resize(ov, 20<<30); err != nil {
		t.Fatal(err)
	}
	varKB := func(sh *qemu.Shell) int64 {
		t.Helper()
		f := strings.Fields(must(t, sh, "df -k /host/var | tail -1"))
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatalf("df: %v", f)
		}
		return n
	}

	vm, sh := bootShell(t, cfg)
	waitLine(t, vm, `^berth: storage: STATE /dev/vda4 grew: file system from 2\.0 GiB to 18\.\d GiB, partition from 2\.0 GiB to 18\.\d GiB$`, 3*time.Minute)
	if kb := varKB(sh); kb < 17<<20 {
		t.Fatalf("/var has %d KiB, want more than 17 GiB", kb)
	}
	mustMatch(t, must(t, sh, "os-ctl status"), `(?m)^storage:\s+/dev/vda4, 18\.\d GiB \(grown from 2\.0 GiB at this boot\)$`)
	must(t, sh, "echo kept > /host/var/lib/grow-test && sync")
	vm.PowerOff(t, time.Minute)

	vm, sh = bootShell(t, cfg)
	waitStatus(t, sh, `(?m)^storage:\s+/dev/vda4, 18\.\d GiB \(fills its disk\)$`)
	for _, l := range vm.Console.Lines() {
		if regexpMatch(`storage: STATE .* grew`, l.Text) {
			t.Fatalf("grew again on a disk it fills: %s", l.Text)
		}
	}
	must(t, sh, "grep -x kept /host/var/lib/grow-test")
	vm.PowerOff(t, time.Minute)

	// Grown again; the power goes once the new backup table is written.
	if err := qemu.Resize(ov, 24<<30); err != nil {
		t.Fatal(err)
	}
	cut := cfg
	cut.Append += " berth.test.grow_pause=backup"
	vm, _ = bootShell(t, cut)
	waitLine(t, vm, `^berth: storage: paused after the backup table`, 3*time.Minute)
	vm.Kill()
	// And the primary header is then found damaged (a torn write).
	if err := qemu.ZeroRange(ov, 512, 512); err != nil {
		t.Fatal(err)
	}
	vm, sh = bootShell(t, cfg)
	waitLine(t, vm, `^berth: storage: STATE /dev/vda4 grew: file system from 18\.\d GiB to 22\.\d GiB, partition from (18|22)\.\d GiB to 22\.\d GiB$`, 3*time.Minute)
	if kb := varKB(sh); kb < 21<<20 {
		t.Fatalf("/var has %d KiB after the second growth, want more than 21 GiB", kb)
	}
	must(t, sh, "grep -x kept /host/var/lib/grow-test")
	vm.PowerOff(t, time.Minute)
	// STATE now ends at the last whole MiB before the backup table.
	st := extent(layout.LabelState)
	fsckStateSized(t, ov, (24<<30)-(1<<20)-st.Offset())
}

// waitLine waits until some console line of this boot, however early,
// matches re: sysd's work beside the boot may come before the lines the
// boot waited for.
func waitLine(t *testing.T, vm *vmtest.VM, re string, timeout time.Duration) {
	t.Helper()
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(time.Second) {
		for _, l := range vm.Console.Lines() {
			if regexpMatch(re, l.Text) {
				return
			}
		}
	}
	t.Fatalf("no console line matched /%s/ within %v", re, timeout)
}

// waitStatus waits for os-ctl status to match re: STATE's line comes from
// work beside the boot.
func waitStatus(t *testing.T, sh *qemu.Shell, re string) {
	t.Helper()
	var out string
	for i := 0; i < 60; i++ {
		if out = must(t, sh, "os-ctl status"); regexpMatch(re, out) {
			return
		}
		time.Sleep(2 * time.Second)
	}
	t.Fatalf("os-ctl status never matched /%s/:\n%s", re, out)
}
