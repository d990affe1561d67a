package layout

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Verity describes the dm-verity hash tree of a slot's root image. The
// image builder appends the tree to the file system (no verity
// superblock: every parameter is here, so nothing on the partition can
// choose how it is checked); the release's signed metadata carries it,
// and so does the slot's boot entry, as one word of the kernel command
// line that stage 1 opens the root with.
//
// The hash is SHA-256 (format 1, as veritysetup makes) over 4096-byte
// data and hash blocks; the tree starts right after the data blocks.
type Verity struct {
	// DataBlocks is the file system's length in VerityBlockSize blocks.
	DataBlocks uint64 `json:"data_blocks"`
	// RootHash and Salt are lower-case hex.
	RootHash string `json:"root_hash"`
	Salt     string `json:"salt"`
}

// VerityBlockSize is the data and hash block size; VerityHash the hash.
const (
	VerityBlockSize = 4096
	VerityHash      = "sha256"
	// VerityParam is the kernel command line word's key.
	VerityParam = "berth.verity"
	// VerityDevice is the device-mapper name stage 1 gives the checked
	// root; sysd asks the kernel for its status by it.
	VerityDevice = "berth-root"
)

// HashOffset is where the tree starts on the partition, in bytes.
func (v Verity) HashOffset() uint64 { return v.DataBlocks * VerityBlockSize }

// ImageSize is the root image's length: the file system, then the hash
// tree veritysetup builds for it (each level a hash of 32 bytes per block
// below, 128 to a block, up to a single block; a single data block needs
// none). The updater reads a
// slot's root this far and no further.
func (v Verity) ImageSize() uint64 {
	blocks, tree := v.DataBlocks, uint64(0)
	for blocks > 1 { // one data block is its own root
		blocks = (blocks + hashesPerBlock - 1) / hashesPerBlock
		tree += blocks
	}
	return (v.DataBlocks + tree) * VerityBlockSize
}

const hashesPerBlock = VerityBlockSize / 32

// String is the value of the berth.verity word: BLOCKS:ROOTHASH:SALT.
func (v Verity) String() string {
	return fmt.Sprintf("%d:%s:%s", v.DataBlocks, v.RootHash, v.Salt)
}

// Check says what is wrong with v, if anything.
func (v Verity) Check() error {
	if v.DataBlocks == 0 || v.DataBlocks > 1<<40 {
		return fmt.Errorf("data blocks: %d is not a length (1 to 2^40 blocks of %d bytes)", v.DataBlocks, VerityBlockSize)
	}
	if b, err := hex.DecodeString(v.RootHash); err != nil || len(b) != 32 || strings.ToLower(v.RootHash) != v.RootHash {
		return fmt.Errorf("root hash: %q is not 64 lower-case hex digits (a SHA-256)", v.RootHash)
	}
	if b, err := hex.DecodeString(v.Salt); err != nil || len(b) > 256 || strings.ToLower(v.Salt) != v.Salt {
		return fmt.Errorf("salt: %q is not up to 256 bytes in lower-case hex", v.Salt)
	}
	return nil
}

// ParseVerity reads the value of a berth.verity word.
func ParseVerity(s string) (Verity, error) {
	f := strings.Split(s, ":")
	if len(f) != 3 {
		return Verity{}, fmt.Errorf("%s=%q: want BLOCKS:ROOTHASH:SALT", VerityParam, s)
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	if err == nil && strconv.FormatUint(n, 10) != f[0] {
		err = errors.New("not a decimal number without leading zeros")
	}
	if err != nil {
		return Verity{}, fmt.Errorf("%s=%q: data blocks: %w", VerityParam, s, err)
	}
	v := Verity{DataBlocks: n, RootHash: f[1], Salt: f[2]}
	if err := v.Check(); err != nil {
		return Verity{}, fmt.Errorf("%s=%q: %w", VerityParam, s, err)
	}
	return v, nil
}
