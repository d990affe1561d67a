// Package blockdev finds partitions by their GPT label and tells whether a
// device holds an ext4 file system, reading only sysfs and the device.
package blockdev

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// ParseUevent returns the KEY=value pairs of a sysfs uevent file.
func ParseUevent(r io.Reader) map[string]string {
	m := map[string]string{}
	s := bufio.NewScanner(r)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), "="); ok {
			m[k] = v
		}
	}
	return m
}

// ext4 keeps its superblock at byte 1024; the magic 0xEF53 sits at offset
// 56 in it (little endian).
const (
	superblockOffset = 1024
	magicOffset      = 56
	ext4Magic        = 0xEF53
)

// Ext4Clean reports whether the superblock says the file system needs no
// check: s_state (offset 58) is EXT4_VALID_FS (1) without EXT4_ERROR_FS
// (2), and the journal needs no recovery (feature_incompat, offset 96,
// without RECOVER, 0x4: set while mounted, so still set after a power cut).
func Ext4Clean(r io.ReaderAt) (bool, error) {
	var b [100]byte
	if _, err := r.ReadAt(b[:], superblockOffset); err != nil {
		return false, fmt.Errorf("read superblock: %w", err)
	}
	state := binary.LittleEndian.Uint16(b[58:])
	incompat := binary.LittleEndian.Uint32(b[96:])
	return state == 1 && incompat&0x4 == 0, nil
}

// HasExt4 reports whether r starts with an ext2/3/4 superblock.
func HasExt4(r io.ReaderAt) (bool, error) {
	var b [2]byte
	if _, err := r.ReadAt(b[:], superblockOffset+magicOffset); err != nil {
		return false, fmt.Errorf("read superblock: %w", err)
	}
	return binary.LittleEndian.Uint16(b[:]) == ext4Magic, nil
}

// FSType names the read-only root file system whose first 1028 bytes are
// head: "squashfs" (magic "hsqs" at 0) or "erofs" (0xE0F5E1E2 at 1024),
// else "".
func FSType(head []byte) string {
	switch {
	case len(head) >= 4 && string(head[:4]) == "hsqs":
		return "squashfs"
	case len(head) >= 1028 && head[1024] == 0xe2 && head[1025] == 0xe1 && head[1026] == 0xf5 && head[1027] == 0xe0:
		return "erofs"
	}
	return ""
}
