package nofollow

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Owner is who a created file or directory belongs to; -1 keeps root's.
type Owner struct{ UID, GID int }

// Root keeps whoever creates the file (root) as its owner.
var Root = Owner{-1, -1}

// Dir opens the directory rel (slash-separated, relative to root) without
// following a symbolic link in any component. With mkdir, missing
// components are made with mode and given to owner; existing ones are
// left as they are. The caller closes the result.
func Dir(root, rel string, mkdir bool, mode os.FileMode, owner Owner) (*os.File, error) {
	d, err := os.Open(root)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", root, err)
	}
	defer d.Close()
	return Sub(d, rel, mkdir, mode, owner)
}

// Sub is Dir below an open directory.
func Sub(d *os.File, rel string, mkdir bool, mode os.FileMode, owner Owner) (*os.File, error) {
	fd, err := unix.Dup(int(d.Fd()))
	if err != nil {
		return nil, fmt.Errorf("dup %s: %w", d.Name(), err)
	}
	unix.CloseOnExec(fd)
	at := d.Name()
	for _, c := range strings.Split(filepath.Clean("/"+rel), "/") {
		if c == "" {
			continue
		}
		at = filepath.Join(at, c)
		if mkdir {
			err := unix.Mkdirat(fd, c, uint32(mode.Perm()))
			if err == nil && owner != Root {
				err = unix.Fchownat(fd, c, owner.UID, owner.GID, unix.AT_SYMLINK_NOFOLLOW)
			}
			if err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(fd)
				return nil, fmt.Errorf("mkdir %s: %w", at, err)
			}
		}
		next, err := unix.Openat2(fd, c, &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
			Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH,
		})
		unix.Close(fd)
		if err != nil {
			return nil, linkError("open", at, err)
		}
		fd = next
	}
	return os.NewFile(uintptr(fd), at), nil
}

// linkError names the symbolic link that stopped a path, and its target.
func linkError(op, p string, err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.EXDEV) {
		// The first component of p that is a link.
		at := "/"
		for _, c := range strings.Split(filepath.Clean(p), "/") {
			if c == "" {
				continue
			}
			at = filepath.Join(at, c)
			if t, lerr := os.Readlink(at); lerr == nil {
				return fmt.Errorf("%s %s: is a symbolic link to %s, which is not followed here: give the real path", op, at, t)
			}
		}
	}
	return fmt.Errorf("%s %s: %w", op, p, err)
}

// WriteFile replaces name in dir with data, atomically (temp file,
// fsync, rename, fsync of dir), owned by owner with mode. A link at name
// is replaced, not followed.
func WriteFile(dir *os.File, name string, data []byte, mode os.FileMode, owner Owner) error {
	at := filepath.Join(dir.Name(), name)
	var tmp string
	var fd int
	for i := 0; ; i++ {
		tmp = fmt.Sprintf(".%s.%d.%d", name, os.Getpid(), i)
		var err error
		fd, err = unix.Openat(int(dir.Fd()), tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EEXIST) || i > 100 {
			return fmt.Errorf("create a temp file for %s: %w", at, err)
		}
	}
	f := os.NewFile(uintptr(fd), filepath.Join(dir.Name(), tmp))
	err := fill(f, data, mode, owner)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(int(dir.Fd()), tmp, int(dir.Fd()), name)
	}
	if err != nil {
		unix.Unlinkat(int(dir.Fd()), tmp, 0)
		return fmt.Errorf("write %s: %w", at, err)
	}
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir.Name(), err)
	}
	return nil
}

// AppendFile appends data to name in dir, creating it when missing, and
// then sets its owner and mode. name must be a regular file, not a link.
func AppendFile(dir *os.File, name string, data []byte, mode os.FileMode, owner Owner) error {
	at := filepath.Join(dir.Name(), name)
	fd, err := unix.Openat2(int(dir.Fd()), name, &unix.OpenHow{
		// O_NONBLOCK: a FIFO planted at name must not hang the writer.
		Flags:   unix.O_WRONLY | unix.O_APPEND | unix.O_CREAT | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK,
		Mode:    uint64(mode.Perm()),
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH,
	})
	if err != nil {
		return linkError("open", at, err)
	}
	f := os.NewFile(uintptr(fd), at)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", at, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("append to %s: not a regular file", at)
	}
	if err := fill(f, data, mode, owner); err != nil {
		return fmt.Errorf("append to %s: %w", at, err)
	}
	return nil
}

// fill writes data, then owner (which clears set-id bits), then mode, all
// on the descriptor, and syncs.
func fill(f *os.File, data []byte, mode os.FileMode, owner Owner) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	if owner != Root {
		if err := f.Chown(owner.UID, owner.GID); err != nil {
			return err
		}
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	return f.Sync()
}

// maxLinks bounds the links one resolution follows (the kernel's own
// limit is 40).
const maxLinks = 40

// ResolveRootLinks returns the absolute path p names, following only
// symbolic links owned by root: the system's own (/lib → usr/lib), never
// one a user made, which fails with an error naming it. Components that
// do not exist yet are kept as given. Open the result with
// RESOLVE_NO_SYMLINKS to be sure it did not change in between.
func ResolveRootLinks(p string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("resolve %s: not an absolute path", p)
	}
	done := "/"
	rest := strings.Split(filepath.Clean(p), "/")[1:]
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			done = filepath.Dir(done)
			continue
		}
		next := filepath.Join(done, c)
		var st unix.Stat_t
		err := unix.Lstat(next, &st)
		if errors.Is(err, unix.ENOENT) {
			return filepath.Join(append([]string{next}, rest...)...), nil
		}
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", next, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			done = next
			continue
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", next, err)
		}
		if st.Uid != 0 {
			return "", fmt.Errorf("resolve %s: %s is a symbolic link to %s owned by uid %d: only root's links are followed here; give the real path", p, next, target, st.Uid)
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("resolve %s: too many levels of symbolic links", p)
		}
		if filepath.IsAbs(target) {
			done = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return done, nil
}

// OpenPath opens p (absolute) as an O_PATH descriptor without following
// any symbolic link in it.
func OpenPath(p string) (int, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, p, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_NO_SYMLINKS,
	})
	if err != nil {
		return -1, linkError("open", p, err)
	}
	return fd, nil
}
