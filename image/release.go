package image

import (
	"fmt"
	"os"
	"path/filepath"

	"berth.dev/berth/update"
	"berth.dev/berth/update/chunk"
)

// Release describes the parts of one slot, as written to release.json
// (the updater reads the same type).
type Release = update.Release

// Part is one file of a release.
type Part = update.Part

// ReleaseParts are the files of a slot, by their names in build/release.
var ReleaseParts = update.PartNames

// Describe hashes the parts in dir.
func Describe(dir, version, kver string, epoch int64) (Release, error) {
	r := Release{Version: version, Architecture: "amd64", Kernel: kver, SourceDateEpoch: epoch, Parts: map[string]Part{}}
	for _, name := range ReleaseParts {
		p, err := update.HashFile(filepath.Join(dir, name))
		if err != nil {
			return r, err
		}
		r.Parts[name] = p
	}
	return r, nil
}

// ReadRelease reads a release.json.
var ReadRelease = update.ReadRelease

// writeRootIndex writes the chunk index of the root image at root to
// out, cut as a repository's publish cuts it: the disk keeps it beside
// slot A's kernel (layout.RootIndex), and the first delta update looks
// its chunks up there instead of reading the whole slot.
func writeRootIndex(root, out string) error {
	ix, err := chunk.IndexFile(root, "root.img", nil)
	if err != nil {
		return fmt.Errorf("root index: %w", err)
	}
	if err := os.WriteFile(out, ix.Marshal(), 0o644); err != nil {
		return fmt.Errorf("root index: %w", err)
	}
	return nil
}
