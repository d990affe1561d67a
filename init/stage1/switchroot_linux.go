package stage1

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// moveMounts are the API file systems that follow init into the new root.
var moveMounts = []string{"/dev", "/proc", "/sys", "/run"}

// switchRoot makes newRoot the root and execs init there, after emptying
// the initramfs (it lives in memory). Like switch_root(8).
func switchRoot(newRoot, init string) error {
	for _, m := range moveMounts {
		if err := unix.Mount(m, filepath.Join(newRoot, m), "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move %s to %s: %w", m, newRoot, err)
		}
	}
	old, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("open the initramfs root: %w", err)
	}
	if err := unix.Chdir(newRoot); err != nil {
		return fmt.Errorf("chdir %s: %w", newRoot, err)
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s to /: %w", newRoot, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot %s: %w", newRoot, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	// Free the initramfs's memory: nothing will look at it again.
	if err := emptyDir(old); err != nil {
		fmt.Fprintf(os.Stderr, "berth: empty the initramfs: %v\n", err)
	}
	return unix.Exec(init, []string{init}, os.Environ())
}

// emptyDir deletes everything below the directory fd, staying on its file
// system (the mounts moved away already; anything else mounted there is
// left alone).
func emptyDir(fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	return emptyDirDev(fd, st.Dev)
}

func emptyDirDev(fd int, dev uint64) error {
	// Read the names through a duplicate: an *os.File closes its fd when
	// it is closed or collected, and fd belongs to the caller.
	dup, err := unix.Dup(fd)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(dup), "initramfs directory")
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if st.Dev != dev {
				continue
			}
			sub, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
			if err != nil {
				continue
			}
			emptyDirDev(sub, dev)
			unix.Close(sub)
			unix.Unlinkat(fd, n, unix.AT_REMOVEDIR)
			continue
		}
		unix.Unlinkat(fd, n, 0)
	}
	return nil
}
