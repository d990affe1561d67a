package publish

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"berth.dev/berth/update"
	"berth.dev/berth/update/chunk"
)

// GC removes from the chunk store every chunk that no release a channel
// points at references, and what a cut publish left half-written. It
// returns the chunks removed, their bytes and the chunks kept. Run it
// when no publish is under way: a publish's new chunks are referenced
// only once its channel points at it.
func (r Repo) GC() (removed int, freed int64, kept int, err error) {
	refs, err := r.referencedChunks()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("gc: %w", err)
	}
	dir := filepath.Join(r.Dir, update.ChunkDir)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == dir {
			return fs.SkipAll
		}
		if err != nil || d.IsDir() {
			return err
		}
		sum, isChunk := strings.CutSuffix(d.Name(), ".zst")
		if isChunk && refs[sum] {
			kept++
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.Remove(path); err != nil {
			return err
		}
		removed++
		freed += info.Size()
		return nil
	})
	if err != nil {
		return removed, freed, kept, fmt.Errorf("gc: %w", err)
	}
	return removed, freed, kept, nil
}

// referencedChunks reads the indexes of every release a channel points at.
func (r Repo) referencedChunks() (map[string]bool, error) {
	channels, err := filepath.Glob(filepath.Join(r.Dir, "targets", "channels", "*.json"))
	if err != nil {
		return nil, err
	}
	if len(channels) == 0 {
		return nil, fmt.Errorf("%s has no channels: is it a release repository?", r.Dir)
	}
	refs := map[string]bool{}
	for _, ch := range channels {
		var cf update.ChannelFile
		b, err := os.ReadFile(ch)
		if err == nil {
			err = json.Unmarshal(b, &cf)
		}
		if err != nil || cf.Version == "" {
			return nil, fmt.Errorf("%s: no version (%v)", ch, err)
		}
		for _, part := range update.PartNames {
			p := filepath.Join(r.Dir, "targets", "releases", cf.Version, update.IndexName(part))
			b, err := os.ReadFile(p)
			if errors.Is(err, os.ErrNotExist) {
				continue // published before releases had chunks
			}
			if err != nil {
				return nil, err
			}
			ix, err := chunk.Parse(p, b)
			if err != nil {
				return nil, err
			}
			for _, c := range ix.Chunks {
				refs[c.SHA256] = true
			}
		}
	}
	return refs, nil
}
