// Package tests boots the built image in QEMU and checks it as a user
// would: through the serial console, the power button and the disk.
package tests

import (
	"testing"
	"time"

	"berth.dev/berth/image"
	"berth.dev/berth/qemu"
)

// Deadlines are generous: CI runs TCG on two busy cores.
const (
	bootTimeout = 120 * time.Second
	readyRE     = `^berth: ready version=(\S+) slot=([AB]) boot_ms=(\d+)$`
)

func direct(b qemu.Build, slot string) qemu.Config {
	return qemu.Config{Disk: b.Disk, Kernel: b.Kernel, Initrd: b.Initrd, Append: image.Cmdline(slot)}
}

func TestDirectBootSlotA(t *testing.T) {
	t.Parallel()
	b := qemu.FindBuild(t)
	vm := qemu.StartT(t, direct(b, "A"))
	_, m := vm.MustExpect(t, readyRE, bootTimeout)
	if m[2] != "A" {
		t.Fatalf("ready line says slot %s, want A", m[2])
	}
}
