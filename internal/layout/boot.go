package layout

import "strings"

// KernelArgs are the kernel command line words every boot gets, before
// berth.slot. The kernel writes to the screen (tty0: a PC's, or a
// hypervisor's console window) and the serial port; the last console=
// is /dev/console, where PID 1 and sysd write (internal/console mirrors
// their lines to the screen). loglevel=4 keeps the consoles (slow under
// emulation) to warnings; panic=10 reboots after a kernel panic so the boot loader's
// counting can act; gpt makes the kernel read the backup GPT at the disk's
// end when the primary is damaged (a power cut while STATE grows).
var KernelArgs = []string{"console=tty0", "console=ttyS0,115200", "loglevel=4", "panic=10", "gpt"}

// Cmdline returns the kernel command line for a slot whose root is
// checked with v (nil: a release from before verity, mounted unchecked).
func Cmdline(slot string, v *Verity) string {
	words := append(append([]string(nil), KernelArgs...), "berth.slot="+slot)
	if v != nil {
		words = append(words, VerityParam+"="+v.String())
	}
	return strings.Join(words, " ")
}

// Paths on the ESP.
const (
	// BootLoader is systemd-boot, where UEFI firmware looks by default.
	BootLoader = "/EFI/BOOT/BOOTX64.EFI"
	// LoaderConf is systemd-boot's configuration.
	LoaderConf = "/loader/loader.conf"
	// EntriesDir holds the Boot Loader Specification entries.
	EntriesDir = "/loader/entries"
)

// ESPDir is where a slot's kernel and initramfs live on the ESP.
func ESPDir(slot string) string { return "/berth/" + slot }

// RootIndex is the file in a slot's ESPDir that lists the chunks of the
// root image the slot holds (update/chunk's index, cut with its default
// parameters): a delta update finds the chunks it can reuse from it
// without reading the whole partition. The image builder writes slot A's;
// the updater removes a slot's before writing the slot and writes the
// release's after.
const RootIndex = "root.img.idx"
