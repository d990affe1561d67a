package image

import (
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
