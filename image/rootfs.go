package image

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// Materialize writes t below dir with its modes, ready for mksquashfs,
// which gives every file the build's timestamp itself (-T). Files are
// copied, never linked: a link would share (and change) the source's mode.
func Materialize(t Tree, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
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
			if err := writeFile(hp, e); err != nil {
				return err
			}
		}
	}
	// Modes last: a directory may need write permission while it fills.
	for _, p := range paths {
		if e := t[p]; e.Kind != Link {
			if err := os.Chmod(filepath.Join(dir, p), e.Mode); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeFile(hp string, e Entry) error {
	b, err := e.Content()
	if err != nil {
		return err
	}
	return os.WriteFile(hp, b, e.Mode)
}

// Compression is how a squashfs image's blocks are compressed.
type Compression string

const (
	// Zstd, in 128 KiB blocks: what a file read at boot or at Docker's
	// start is stored with (see Squashfs).
	Zstd Compression = "zstd"
	// XZ, in 1 MiB blocks with the x86 branch filter: a fifth smaller
	// than Zstd on the same files and several times slower to read
	// under emulation, for an image whose files nothing reads before an
	// admin types a command (the console, with the docker CLI).
	XZ Compression = "xz"
)

func (c Compression) args() ([]string, error) {
	switch c {
	case Zstd:
		return []string{"-comp", "zstd"}, nil
	case XZ:
		return []string{"-comp", "xz", "-Xbcj", "x86", "-b", "1M"}, nil
	}
	return nil, fmt.Errorf("compression %q: not zstd or xz", string(c))
}

// Squashfs packs dir into out: squashfs with comp, every file owned by
// root, every time set to epoch, no extended attributes. The slot and its
// system container images are squashfs, not EROFS: zstd makes them 35-40%
// smaller than EROFS's LZ4HC (a slot of 149 MB instead of 245), which is
// what every update downloads. The price, measured under TCG emulation
// where decompression is slow: a Go binary's random-access start-up
// faults in whole 128 KiB blocks (dockerd answered ~5 s later); on
// hardware or KVM that is a fraction of a second.
//
// The docker image measured again on Debian 13 (TCG, 2 vCPUs, a cold
// `dockerd --version` from a second disk, no dm-verity): zstd 101 MiB,
// 2.9 s; LZ4HC 134 MiB, 2.0 s, the same as no compression (342 MiB);
// xz with the x86 filter and 1 MiB blocks 81 MiB, 8.2 s. So the engine's
// image stays zstd, and only images nothing reads on the way to Docker
// answering take xz (rootfs/images/NAME/compression).
func Squashfs(dir, out string, epoch time.Time, comp Compression) error {
	args, err := comp.args()
	if err != nil {
		return fmt.Errorf("mksquashfs %s: %w", dir, err)
	}
	_ = os.Remove(out)
	t := strconv.FormatInt(epoch.Unix(), 10)
	cmd := exec.Command("mksquashfs", append(append([]string{dir, out}, args...), "-noappend", "-quiet", "-no-progress",
		"-all-root", "-no-xattrs")...)
	// It sets every time from SOURCE_DATE_EPOCH, and refuses that variable
	// together with its own time options.
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+t)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mksquashfs %s: %w: %s", dir, err, b)
	}
	return nil
}
