package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Release describes the parts of one slot, as written to release.json.
type Release struct {
	Version      string `json:"version"`
	Architecture string `json:"architecture"`
	Kernel       string `json:"kernel"`
	// SourceDateEpoch is the time every file in the parts carries; with
	// it the same commit rebuilds the same bytes.
	SourceDateEpoch int64           `json:"source_date_epoch"`
	Parts           map[string]Part `json:"parts"`
}

// Part is one file of a release.
type Part struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// ReleaseParts are the files of a slot, by their names in build/release.
var ReleaseParts = []string{"vmlinuz", "initrd.img", "root.img"}

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
func ReadRelease(path string) (Release, error) {
	var r Release
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// WriteJSON writes r as indented JSON.
func (r Release) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
