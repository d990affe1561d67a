package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"github.com/u-root/u-root/pkg/mount/gpt"
	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/blockdev"
)

// Result is what a Grow did.
type Result struct {
	Dev               string
	Before, After     int64 // the partition's bytes
	FSBefore, FSAfter int64 // the file system's bytes
}

// Grown reports whether anything grew.
func (r Result) Grown() bool { return r.After > r.Before || r.FSAfter > r.FSBefore }

// Grow grows the partition dev (/dev/vda4), which must be the last on its
// disk, to the disk's end, tells the kernel, and grows the mounted ext4
// on it online with resize2fs. A cut at any moment leaves tables that the
// kernel reads (the new backup is written before the primary, and the
// kernel is told "gpt" so that it falls back to the backup at the disk's
// end when the primary is torn) and a file system that resize2fs's
// journal keeps whole; the next boot finishes the job.
//
// pause is the tests' seam for a power cut: called with "backup" once the
// new backup table is written, "primary" once the primary is; a non-nil
// error stops Grow there.
func Grow(ctx context.Context, dev string, pause func(step string) error) (Result, error) {
	r := Result{Dev: dev}
	name := filepath.Base(dev)
	partno, err := readInt("/sys/class/block/" + name + "/partition")
	if err != nil {
		return r, fmt.Errorf("grow %s: not a partition: %w", dev, err)
	}
	link, err := filepath.EvalSymlinks("/sys/class/block/" + name)
	if err != nil {
		return r, fmt.Errorf("grow %s: %w", dev, err)
	}
	disk := filepath.Base(filepath.Dir(link))
	if lbs, err := readInt("/sys/block/" + disk + "/queue/logical_block_size"); err != nil || lbs != gpt.BlockSize {
		return r, fmt.Errorf("grow %s: disk %s has %d-byte sectors (%v): only 512 is handled", dev, disk, lbs, err)
	}
	f, err := os.OpenFile("/dev/"+disk, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return r, fmt.Errorf("grow %s: %w", dev, err)
	}
	defer f.Close()
	size, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKGETSIZE64)
	if err != nil {
		return r, fmt.Errorf("grow %s: size of /dev/%s: %w", dev, disk, err)
	}
	sectors := uint64(size) / gpt.BlockSize
	prim, perr := gpt.Table(f, gpt.HeaderOff)
	back, berr := gpt.Table(f, int64(sectors-1)*gpt.BlockSize)
	cur := prim
	if perr != nil {
		if berr != nil {
			return r, fmt.Errorf("grow %s: /dev/%s: primary GPT: %v; none at the disk's end either: %v", dev, disk, perr, berr)
		}
		cur = back
	}
	idx := partno - 1
	if idx >= len(cur.Parts) {
		return r, fmt.Errorf("grow %s: the GPT of /dev/%s has no entry %d", dev, disk, partno)
	}
	r.Before = int64(cur.Parts[idx].LastLBA-cur.Parts[idx].FirstLBA+1) * gpt.BlockSize
	newPrim, newBack, changed, err := Plan(cur, idx, sectors)
	if err != nil {
		return r, fmt.Errorf("grow %s: /dev/%s: %w", dev, disk, err)
	}
	r.After = int64(newPrim.Parts[idx].LastLBA-newPrim.Parts[idx].FirstLBA+1) * gpt.BlockSize
	if changed || perr != nil || berr != nil {
		// The backup first: until the primary is written, the primary
		// still describes the old layout and points at the old backup.
		if err := WriteTable(f, newBack); err != nil {
			return r, fmt.Errorf("grow %s: backup GPT: %w", dev, err)
		}
		if err := pause("backup"); err != nil {
			return r, err
		}
		if err := WriteTable(f, newPrim); err != nil {
			return r, fmt.Errorf("grow %s: primary GPT: %w", dev, err)
		}
		if err := pause("primary"); err != nil {
			return r, err
		}
	}
	if err := resizePartition(f, partno, newPrim.Parts[idx]); err != nil {
		return r, fmt.Errorf("grow %s: tell the kernel: %w", dev, err)
	}
	if r.FSBefore, err = fsSize(dev); err != nil {
		return r, fmt.Errorf("grow %s: %w", dev, err)
	}
	r.FSAfter = r.FSBefore
	// ext4 grows in whole blocks: a remainder below 1 MiB is not worth a
	// resize2fs run on every boot.
	if r.After-r.FSBefore < 1<<20 {
		return r, nil
	}
	out, err := exec.CommandContext(ctx, "/sbin/resize2fs", dev).CombinedOutput()
	if err != nil {
		return r, fmt.Errorf("grow %s: resize2fs: %w: %s", dev, err, strings.TrimSpace(string(out)))
	}
	if r.FSAfter, err = fsSize(dev); err != nil {
		return r, fmt.Errorf("grow %s: %w", dev, err)
	}
	return r, nil
}

// resizePartition sets the kernel's idea of partition partno to p's
// extent (BLKPG_RESIZE_PARTITION works while it is mounted).
func resizePartition(f *os.File, partno int, p gpt.Part) error {
	bp := unix.BlkpgPartition{
		Start:  int64(p.FirstLBA) * gpt.BlockSize,
		Length: int64(p.LastLBA-p.FirstLBA+1) * gpt.BlockSize,
		Pno:    int32(partno),
	}
	arg := unix.BlkpgIoctlArg{Op: unix.BLKPG_RESIZE_PARTITION, Datalen: int32(unsafe.Sizeof(bp)), Data: (*byte)(unsafe.Pointer(&bp))}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKPG, uintptr(unsafe.Pointer(&arg)))
	if errno != 0 {
		return errno
	}
	return nil
}

func fsSize(dev string) (int64, error) {
	f, err := os.Open(dev)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := blockdev.Ext4Size(f)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", dev, err)
	}
	return n, nil
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, errors.New(path + ": not a number")
	}
	return n, nil
}
