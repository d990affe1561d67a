package blockdev

import "strings"

// VolumeType recognises a FAT or ISO9660 file system with the given
// volume label (either case) in b, a device's first 34 KiB (the ISO9660
// primary volume descriptor is at 32 KiB): "vfat", "iso9660" or "".
func VolumeType(b []byte, label string) string {
	match := func(field []byte) bool {
		return strings.EqualFold(strings.TrimRight(string(field), " \x00"), label)
	}
	if ISO9660(b) && len(b) >= 0x8028+32 && match(b[0x8028:0x8028+32]) {
		return "iso9660"
	}
	if isFAT(b) {
		if string(b[0x52:0x57]) == "FAT32" && match(b[0x47:0x47+11]) {
			return "vfat"
		}
		if strings.HasPrefix(string(b[0x36:0x3e]), "FAT") && match(b[0x2b:0x2b+11]) {
			return "vfat"
		}
	}
	return ""
}

// ISO9660 says whether b, a device's first 34 KiB, holds an ISO9660
// volume descriptor at 32 KiB.
func ISO9660(b []byte) bool { return len(b) >= 0x8006 && string(b[0x8001:0x8006]) == "CD001" }

// isFAT says whether b begins with a FAT boot sector.
func isFAT(b []byte) bool {
	return len(b) >= 512 && b[510] == 0x55 && b[511] == 0xAA &&
		(strings.HasPrefix(string(b[0x36:0x3e]), "FAT") || strings.HasPrefix(string(b[0x52:0x5a]), "FAT"))
}
