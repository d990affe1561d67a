package update

import (
	"os"

	"golang.org/x/sys/unix"
)

// dropCache makes the next read of f's device come from the device: the
// kernel's buffer cache of a block device is flushed (BLKFLSBUF), a
// regular file's pages are dropped.
func dropCache(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Mode()&os.ModeDevice != 0 {
		return unix.IoctlSetInt(int(f.Fd()), unix.BLKFLSBUF, 0)
	}
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}
