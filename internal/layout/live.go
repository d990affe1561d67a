package layout

import "strings"

// The installer medium (make iso): an ISO9660 volume whose tree holds the
// release under LiveDir, and whose El Torito image (also a GPT partition,
// for a USB stick) is a small ESP with systemd-boot and one entry whose
// command line carries LiveParam. Stage 1 then mounts the volume at
// LiveMount and the root from LiveDir/root.img through a read-only loop
// device, and keeps STATE in memory; os-ctl install writes the files
// below onto a disk.
const (
	// LiveLabel is the volume ID of the medium, and LiveParam's value.
	LiveLabel = "BERTH_LIVE"
	// LiveParam names the live boot on the kernel command line.
	LiveParam = "berth.live"
	// LiveMount is where stage 1 mounts the medium; /run moves into the
	// root, so the system and the installer find it there.
	LiveMount = "/run/berth/live"
	// LiveDir is the release on the medium, relative to its root.
	LiveDir = "berth"
	// LiveESPDir holds the live entry's kernel and initramfs on its ESP.
	LiveESPDir = "/berth/live"
	// LiveEntry is the live boot entry's file name.
	LiveEntry = "berth-live.conf"
)

// The files in LiveDir besides the release's parts (root.img,
// release.json): the disk image's first MiB as the image builder's sgdisk
// wrote it (the protective MBR and the primary GPT, which the installer
// grows to the disk it writes), and its ESP, gzip-compressed (a 128 MiB
// FAT that is mostly empty).
const (
	LiveDiskHead = "disk-head.img"
	LiveESP      = "esp.img.gz"
)

// InstalledUserData is where the installer leaves the user-data it was
// given, on the installed STATE (under /var); the first boot reads it
// when no other datasource has any.
const InstalledUserData = "/var/lib/berth/install/user-data"

// LiveCmdline is the live entry's kernel command line: slot A's (the
// medium's root is the release slot A gets), then LiveParam.
func LiveCmdline(args []string, v *Verity) string {
	return strings.Join([]string{Cmdline("A", args, v), LiveParam + "=" + LiveLabel}, " ")
}

// StateMkfsArgs are mke2fs's arguments for STATE on dev: stage 1 formats
// a blank STATE with them, the installer the STATE it writes user-data
// into. The lazy initialisation leaves zeroing the tables to the kernel
// after mount: a first boot does not wait for it.
func StateMkfsArgs(dev string) []string {
	return []string{"-t", "ext4", "-q", "-F", "-L", LabelState, "-E", "lazy_itable_init=1,lazy_journal_init=1", dev}
}
