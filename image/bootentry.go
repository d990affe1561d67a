package image

import (
	"fmt"
	"strings"
)

// KernelArgs are the kernel command line words every boot gets, before
// berth.slot. loglevel=4 keeps the serial console (slow under emulation)
// to warnings; panic=10 reboots after a kernel panic so the boot loader's
// counting can act.
var KernelArgs = []string{"console=ttyS0,115200", "loglevel=4", "panic=10"}

// Cmdline returns the kernel command line for a slot.
func Cmdline(slot string) string {
	return strings.Join(append(append([]string(nil), KernelArgs...), "berth.slot="+slot), " ")
}

// ESPDir is where a slot's kernel and initramfs live on the ESP.
func ESPDir(slot string) string { return "/berth/" + slot }

// BootEntry renders a Boot Loader Specification type 1 entry for a slot.
func BootEntry(slot, version string) string {
	return fmt.Sprintf(`title   Berth %[2]s (slot %[1]s)
version %[2]s
sort-key berth
linux   %[3]s/vmlinuz
initrd  %[3]s/initrd.img
options %[4]s
`, slot, version, ESPDir(slot), Cmdline(slot))
}

// LoaderConf is loader/loader.conf: no menu delay; keys still open it.
const LoaderConf = "timeout 0\neditor no\nconsole-mode keep\n"
