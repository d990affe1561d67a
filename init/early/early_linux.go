package early

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func (d Dir) Create() error {
	if err := os.MkdirAll(d.Path, os.FileMode(d.Mode)); err != nil {
		return fmt.Errorf("mkdir %q: %w", d.Path, err)
	}
	return nil
}

// Create mounts m. EBUSY on a target that already holds this very file
// system type is fine: the kernel (devtmpfs with CONFIG_DEVTMPFS_MOUNT) or
// an earlier stage may have mounted it.
func (m Mount) Create() error {
	if err := os.MkdirAll(m.Target, 0o755); err != nil {
		return fmt.Errorf("mkdir mount point %q: %w", m.Target, err)
	}
	err := unix.Mount(m.Source, m.Target, m.FSType, m.Flags, m.Data)
	if errors.Is(err, unix.EBUSY) && m.Flags&(unix.MS_BIND|unix.MS_REMOUNT|unix.MS_MOVE) == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mount %s %q on %q: %w", m.FSType, m.Source, m.Target, err)
	}
	return nil
}

func (s Symlink) Create() error {
	if cur, err := os.Readlink(s.Link); err == nil && cur == s.Target {
		return nil
	}
	if err := os.Symlink(s.Target, s.Link); err != nil {
		return fmt.Errorf("symlink %q -> %q: %w", s.Link, s.Target, err)
	}
	return nil
}

func (w Write) Create() error {
	if err := os.WriteFile(w.Path, []byte(w.Content), 0o644); err != nil {
		return fmt.Errorf("write %q: %w", w.Path, err)
	}
	return nil
}

func (i IfExists) Create() error {
	if _, err := os.Stat(i.Path); err != nil {
		return nil
	}
	return i.Step.Create()
}

func (m MakeShared) Create() error {
	if err := unix.Mount("", m.Path, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s rshared: %w", m.Path, err)
	}
	return nil
}
