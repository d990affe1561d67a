package image

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Materialize writes t below dir with its modes and every timestamp set to
// epoch, ready for mksquashfs. Files whose source lies below linkUnder (the
// build's scratch space: the kernel modules are hundreds of MB) are
// hard-linked, since their times may be changed; all others are copied.
func Materialize(t Tree, dir, linkUnder string, epoch time.Time) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	paths := t.Paths()
	for _, p := range paths {
		e := t[p]
		hp := filepath.Join(dir, p)
		switch e.Kind {
		case Dir:
			if err := os.MkdirAll(hp, 0o755); err != nil {
				return err
			}
		case Link:
			if err := os.Symlink(e.Target, hp); err != nil {
				return err
			}
		case CharDev:
			return fmt.Errorf("%s: device nodes are not supported in the root image (devtmpfs provides them)", p)
		default:
			if err := writeFile(hp, e, linkUnder); err != nil {
				return err
			}
		}
	}
	// Modes and times last, children before parents, so that writing a
	// child does not bump its directory's mtime afterwards.
	ts := []unix.Timespec{unix.NsecToTimespec(epoch.UnixNano()), unix.NsecToTimespec(epoch.UnixNano())}
	for i := len(paths) - 1; i >= 0; i-- {
		p, e := paths[i], t[paths[i]]
		hp := filepath.Join(dir, p)
		if e.Kind != Link {
			if err := os.Chmod(hp, e.Mode); err != nil {
				return err
			}
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, hp, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("set times on %s: %w", hp, err)
		}
	}
	return unix.UtimesNanoAt(unix.AT_FDCWD, dir, ts, 0)
}

// writeFile hard-links or writes e's content at hp. A hard link shares its
// mode with the source, so it is only used when the modes agree.
func writeFile(hp string, e Entry, linkUnder string) error {
	if e.Src != "" && linkUnder != "" && strings.HasPrefix(e.Src, linkUnder+"/") {
		if st, err := os.Stat(e.Src); err == nil && st.Mode().Perm() == e.Mode {
			if os.Link(e.Src, hp) == nil {
				return nil
			}
		}
	}
	b, err := e.Content()
	if err != nil {
		return err
	}
	return os.WriteFile(hp, b, e.Mode)
}

// Squashfs packs dir into out (zstd, every file owned by root, no
// extended attributes). mksquashfs sorts directory entries itself and, with
// SOURCE_DATE_EPOCH, stamps the file system with that time.
func Squashfs(dir, out string, epoch time.Time) error {
	_ = os.Remove(out)
	cmd := exec.Command("mksquashfs", dir, out, "-comp", "zstd", "-Xcompression-level", "19",
		"-noappend", "-all-root", "-no-xattrs", "-quiet", "-no-progress")
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(epoch.Unix(), 10))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mksquashfs %s: %w: %s", dir, err, out)
	}
	return nil
}
