package atomicfile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// preallocate gives f size bytes of space (and length), where the file
// system can; elsewhere the file grows as it is written.
func preallocate(f *os.File, size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return nil
	}
	return err
}
