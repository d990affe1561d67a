package layout

import (
	"fmt"
	"strings"
)

// KernelArgs are the kernel command line words every boot of a release
// built from this tree gets, before berth.slot. The image builder writes
// them into release.json (kernel_args): a slot's entry takes the words of
// the release it holds, not of the updater writing it, so a change here
// reaches a machine with the release that makes it.
//
// The kernel writes to the screen (tty0: a PC's, or a hypervisor's
// console window) and the serial port; the last console= is
// /dev/console, where PID 1 and sysd write (internal/console mirrors
// their lines to the screen). loglevel=4 keeps the consoles (slow under
// emulation) to warnings; panic=10 reboots after a kernel panic so the
// boot loader's counting can act; gpt makes the kernel read the backup
// GPT at the disk's end when the primary is damaged (a power cut while
// STATE grows).
var KernelArgs = []string{"console=tty0", "console=ttyS0,115200", "loglevel=4", "panic=10", "gpt"}

// SlotParam names the slot on the kernel command line.
const SlotParam = "berth.slot"

// maxCmdline is x86's COMMAND_LINE_SIZE less its terminating NUL: the
// kernel cuts a longer line short, and berth.verity is at its end.
// loaderRoom is kept for what a boot loader may add (an initrd= word).
const (
	maxCmdline = 2047
	loaderRoom = 128
)

// Cmdline returns the kernel command line for a slot whose release boots
// with args (none: a release from before it said, which gets KernelArgs)
// and whose root is checked with v (nil: a release from before verity,
// mounted unchecked).
func Cmdline(slot string, args []string, v *Verity) string {
	if len(args) == 0 {
		args = KernelArgs
	}
	words := append(append([]string(nil), args...), SlotParam+"="+slot)
	if v != nil {
		words = append(words, VerityParam+"="+v.String())
	}
	return strings.Join(words, " ")
}

// CheckKernelArgs says what is wrong with a release's kernel arguments:
// each is one word of printable ASCII, none is a word the boot entry sets
// itself (the slot, the root hash, the live boot) nor "--" (after which
// the kernel hands every word to init), and the whole line, with the
// entry's words for the root's hash tree v, fits the kernel's limit.
func CheckKernelArgs(args []string, v *Verity) error {
	for i, w := range args {
		if w == "" {
			return fmt.Errorf("kernel_args[%d]: empty", i)
		}
		if w == "--" {
			return fmt.Errorf("kernel_args[%d] %q: the kernel would hand the entry's own words after it to init", i, w)
		}
		for _, c := range w {
			if c <= ' ' || c > '~' || c == '"' {
				return fmt.Errorf("kernel_args[%d] %q: %q is not allowed in a kernel command line word", i, w, c)
			}
		}
		key, _, _ := strings.Cut(w, "=")
		switch key {
		case SlotParam, VerityParam, LiveParam:
			return fmt.Errorf("kernel_args[%d] %q: %s is the boot entry's own, not a release's", i, w, key)
		}
	}
	// The live entry's line is the longest a release gets.
	if n, room := len(LiveCmdline(args, v)), maxCmdline-loaderRoom; n > room {
		return fmt.Errorf("kernel_args: with the boot entry's own words (slot, root hash) the command line would be %d bytes, more than the %d the kernel takes beside a boot loader's", n, room)
	}
	return nil
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
