package update

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"berth.dev/berth/internal/layout"
)

// Release describes the parts of one slot, as written to release.json by
// the image builder and published as a target of the release repository.
type Release struct {
	Version      string `json:"version"`
	Architecture string `json:"architecture"`
	Kernel       string `json:"kernel"`
	// SourceDateEpoch is the time every file in the parts carries; with
	// it the same commit rebuilds the same bytes.
	SourceDateEpoch int64           `json:"source_date_epoch"`
	Parts           map[string]Part `json:"parts"`
	// Verity is root.img's hash tree, which follows its file system in
	// the same part; absent in releases made before it.
	Verity *layout.Verity `json:"verity,omitempty"`
	// KernelArgs are the words its slot's boot entry gives the kernel,
	// before the slot and the root hash; absent in releases made before
	// it, which boot with layout.KernelArgs (layout.Cmdline).
	KernelArgs []string `json:"kernel_args,omitempty"`
}

// Part is one file of a release.
type Part struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// PartNames are the files of a slot, by their names in build/release and
// in the repository.
var PartNames = []string{"vmlinuz", "initrd.img", "root.img"}

// IndexName is a part's chunk index (package chunk) in the repository: a
// signed target beside the part, releases/VERSION/root.img.idx.
func IndexName(part string) string { return part + ".idx" }

// ChunkDir is the repository's chunk store, beside metadata/ and
// targets/. Chunks are not targets: the signed index pins each one's
// hash, and there are thousands.
const ChunkDir = "chunks"

// ReadRelease reads a release.json.
func ReadRelease(path string) (Release, error) {
	var r Release
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	if err := r.Check(r.Parts["root.img"].Size); err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// Check says what is wrong with the release's boot fields, for a root.img
// of rootSize bytes: its verity (data blocks that leave no room for the
// tree after them would send stage 1 reading past the image) and its
// kernel arguments.
func (r Release) Check(rootSize int64) error {
	if err := layout.CheckKernelArgs(r.KernelArgs, r.Verity); err != nil {
		return err
	}
	if r.Verity == nil {
		return nil
	}
	if err := r.Verity.Check(); err != nil {
		return fmt.Errorf("verity: %w", err)
	}
	if r.Verity.HashOffset() >= uint64(max(rootSize, 0)) {
		return fmt.Errorf("verity: %d data blocks end at byte %d, past root.img's %d bytes and its hash tree",
			r.Verity.DataBlocks, r.Verity.HashOffset(), rootSize)
	}
	return nil
}

// WriteJSON writes r as indented JSON.
func (r Release) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// HashFile measures the file at path: its length and SHA-256, as a
// release describes a part and as a download is checked.
func HashFile(path string) (Part, error) {
	f, err := os.Open(path)
	if err != nil {
		return Part{}, fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Part{}, fmt.Errorf("hash %s: %w", path, err)
	}
	return Part{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// ChannelFile is what a repository's targets/channels/NAME.json holds: the
// release the channel points at.
type ChannelFile struct {
	Version string `json:"version"`
}
