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

// Ext4Kind is what the place of an ext4 superblock holds.
type Ext4Kind int

const (
	// Ext4Blank: the superblock's 1024 bytes are all zeros (a new or
	// wiped partition). Only this may be formatted.
	Ext4Blank Ext4Kind = iota
	// Ext4Present: an ext2/3/4 superblock.
	Ext4Present
	// Ext4Damaged: something else, such as a superblock with a bad
	// sector or a stray write: there may be data behind it.
	Ext4Damaged
)

func (k Ext4Kind) String() string {
	return [...]string{"blank", "ext4", "damaged"}[k]
}

// Ext4At reads the superblock area of r.
func Ext4At(r io.ReaderAt) (Ext4Kind, error) {
	var b [1024]byte
	if _, err := r.ReadAt(b[:], superblockOffset); err != nil {
		return Ext4Damaged, fmt.Errorf("read superblock: %w", err)
	}
	if binary.LittleEndian.Uint16(b[magicOffset:]) == ext4Magic {
		return Ext4Present, nil
	}
	for _, c := range b {
		if c != 0 {
			return Ext4Damaged, nil
		}
	}
	return Ext4Blank, nil
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

// Ext4Size is the length in bytes of the ext4 file system whose
// superblock area r holds: s_blocks_count (low half at 4, the high half
// at 0x150 when the 64bit feature, incompat 0x80, is on) times the block
// size (1024 << s_log_block_size, at 24).
func Ext4Size(r io.ReaderAt) (int64, error) {
	var b [0x158]byte
	if _, err := r.ReadAt(b[:], superblockOffset); err != nil {
		return 0, fmt.Errorf("read superblock: %w", err)
	}
	if binary.LittleEndian.Uint16(b[magicOffset:]) != ext4Magic {
		return 0, fmt.Errorf("read superblock: no ext4 magic")
	}
	blocks := uint64(binary.LittleEndian.Uint32(b[4:]))
	if binary.LittleEndian.Uint32(b[96:])&0x80 != 0 {
		blocks |= uint64(binary.LittleEndian.Uint32(b[0x150:])) << 32
	}
	logSize := binary.LittleEndian.Uint32(b[24:])
	if logSize > 6 || blocks > 1<<48 {
		return 0, fmt.Errorf("read superblock: block size 1024<<%d, %d blocks: not a file system this makes sense of", logSize, blocks)
	}
	return int64(blocks) << (10 + logSize), nil
}
