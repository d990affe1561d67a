// Package atomicfile replaces a file so that a crash or power cut leaves
// either the old or the new content, never a mix or nothing.
package atomicfile

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write replaces path with data so that after a power cut at any
// moment the file is either the old one or the new one, complete: a temp
// file beside it, fsync, rename, fsync of the directory.
func Write(path string, data []byte, mode os.FileMode) error {
	return WriteFrom(path, bytes.NewReader(data), 0, mode)
}

// WriteFrom is Write for content that is streamed (a kernel on the ESP),
// size bytes long (0: not known, no preallocation). The temp file gets all its space first, synced, and
// only then its data: on a file system without a journal (FAT) a cut
// while the data is written then leaves consistent metadata, instead of
// a half-grown cluster chain that even fsck cannot mend.
func WriteFrom(path string, r io.Reader, size int64, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename: nothing there
	if err := fill(f, r, size, mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("install %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// fill gives the temp file f its space (when size is known), its data,
// its mode, and syncs it; the caller closes it, once.
func fill(f *os.File, r io.Reader, size int64, mode os.FileMode) error {
	tmp := f.Name()
	if size > 0 {
		if err := preallocate(f, size); err != nil {
			return fmt.Errorf("allocate %d bytes for %s: %w", size, tmp, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", tmp, err)
		}
	}
	if n, err := io.Copy(f, r); err != nil || (size > 0 && n != size) {
		if err == nil {
			err = fmt.Errorf("got %d bytes, want %d", n, size)
		}
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	return nil
}
