package stage1

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/go-dmverity/pkg/dm"
	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/atomicfile"
	"berth.dev/berth/internal/kmod"
	"berth.dev/berth/internal/layout"
)

// verityTable is the dm-verity target line for the root on dev: format 1,
// data and tree on the same partition, the tree right after the data.
func verityTable(dev string, v layout.Verity) string {
	salt := v.Salt
	if salt == "" {
		salt = "-"
	}
	blocks := v.DataBlocks
	return fmt.Sprintf("1 %s %s %d %d %d %d %s %s %s", dev, dev,
		layout.VerityBlockSize, layout.VerityBlockSize, blocks, blocks, layout.VerityHash, v.RootHash, salt)
}

// openVerity maps dev through dm-verity and returns the mapped device:
// every block read from it is checked against v's root hash, and one that
// does not match reads as an I/O error (the kernel logs the block). The
// table is read-only and has no corruption policy but that error: a
// restart would loop, and the boot loader's counting already falls back
// from a slot that cannot boot.
func openVerity(dev string, v layout.Verity) (string, error) {
	if errs := kmod.LoadAll([]string{"dm_verity"}); len(errs) > 0 {
		return "", fmt.Errorf("dm-verity: %w", errors.Join(errs...))
	}
	size, err := deviceSize(dev)
	if err != nil {
		return "", err
	}
	if v.HashOffset() >= size {
		return "", fmt.Errorf("dm-verity: %s is %d bytes, too small for %d data blocks and their hash tree", dev, size, v.DataBlocks)
	}
	c, err := dm.Open()
	if err != nil {
		return "", fmt.Errorf("dm-verity: open /dev/mapper/control: %w", err)
	}
	defer c.Close()
	devt, err := c.CreateDevice(layout.VerityDevice)
	if err != nil {
		return "", fmt.Errorf("dm-verity: %w", err)
	}
	table := dm.Target{Length: v.DataBlocks * (layout.VerityBlockSize / 512), Type: "verity", Params: verityTable(dev, v)}
	if err := c.LoadTable(layout.VerityDevice, []dm.Target{table}); err != nil {
		_ = c.RemoveDevice(layout.VerityDevice)
		return "", fmt.Errorf("dm-verity: %w", err)
	}
	if err := c.SuspendDevice(layout.VerityDevice, false); err != nil {
		_ = c.RemoveDevice(layout.VerityDevice)
		return "", fmt.Errorf("dm-verity: %w", err)
	}
	// devtmpfs has made the node by the time the ioctl returns.
	return fmt.Sprintf("/dev/dm-%d", unix.Minor(devt)), nil
}

func deviceSize(dev string) (uint64, error) {
	f, err := os.Open(dev)
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", dev, err)
	}
	defer f.Close()
	n, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKGETSIZE64)
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", dev, err)
	}
	return uint64(n), nil
}

// noteFailure leaves why this boot's root could not be used on STATE, as
// PID 1 does when a trial runs out of time, so that the slot that boots
// next puts it in the update's record. STATE is mounted only for this, and
// only if the kernel mounts it as it is: no repair on a failing boot.
func noteFailure(stateDev, note string) error {
	if stateDev == "" {
		return errors.New("no STATE partition")
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(stateDev, stateDir, "ext4", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount %s: %w", stateDev, err)
	}
	defer unix.Unmount(stateDir, 0)
	dir := stateDir + layout.UpdateStateDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, layout.TrialNoteName), []byte(note+"\n"), 0o600)
}
