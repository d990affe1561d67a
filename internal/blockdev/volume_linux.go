package blockdev

import (
	"os"
	"path/filepath"
	"strings"
)

// FindVolume returns the first block device under sysBlock (loop, RAM
// and zram devices aside) whose file system, FAT or ISO9660, has the
// given label, and that file system's type; "" when none has. A hybrid
// ISO written to a USB stick is found on the whole disk, as on a CD.
func FindVolume(sysBlock, label string) (dev, fstype string) {
	ents, _ := os.ReadDir(sysBlock)
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") || strings.HasPrefix(n, "zram") {
			continue
		}
		if t := volumeOn("/dev/"+n, label); t != "" {
			return "/dev/" + n, t
		}
	}
	return "", ""
}

// volumeOn reads dev's first sector (FAT) and, only when that is not
// FAT, the ISO9660 descriptor at 32 KiB: two small reads a device.
func volumeOn(dev, label string) string {
	f, err := os.Open(filepath.Clean(dev))
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 0x8800)
	if n, _ := f.ReadAt(buf[:512], 0); n == 512 {
		if t := VolumeType(buf[:512], label); t != "" || isFAT(buf) {
			return t
		}
	}
	if n, _ := f.ReadAt(buf[0x8000:0x8800], 0x8000); n < 0x800 {
		return ""
	}
	return VolumeType(buf, label)
}
