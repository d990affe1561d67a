package image

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"berth.dev/berth/update"
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
		p, err := hashFile(filepath.Join(dir, name))
		if err != nil {
			return r, err
		}
		r.Parts[name] = p
	}
	return r, nil
}

func hashFile(path string) (Part, error) {
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

// ReadRelease reads a release.json.
var ReadRelease = update.ReadRelease
