package stage1

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/kmod"
	"berth.dev/berth/internal/layout"
)

// findLive finds the installer medium by its volume label, mounts it at
// layout.LiveMount (under /run, which moves into the root) and returns a
// read-only loop device over the root image on it.
func (d *drivers) findLive(label string) (string, error) {
	found, unclaimed := d.findPartitions(liveVolume(label), label)
	dev, ok := found[label]
	if !ok {
		return "", fmt.Errorf("live system: no CD-ROM or disk holds the ISO9660 volume %s; %s", label, describeUnclaimed(unclaimed))
	}
	if errs := kmod.LoadAll([]string{"isofs", "loop"}); len(errs) > 0 {
		return "", fmt.Errorf("live system: %w", errors.Join(errs...))
	}
	if err := os.MkdirAll(layout.LiveMount, 0o755); err != nil {
		return "", fmt.Errorf("live system: %w", err)
	}
	if err := unix.Mount(dev, layout.LiveMount, "iso9660", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return "", fmt.Errorf("live system: mount %s (ISO9660 %s) on %s: %w", dev, label, layout.LiveMount, err)
	}
	root := filepath.Join(layout.LiveMount, layout.LiveDir, "root.img")
	loop, err := attachLoop(root)
	if err != nil {
		return "", fmt.Errorf("live system: %w", err)
	}
	d.l.Printf("live system: %s from %s on %s", root, label, dev)
	return loop, nil
}

// attachLoop backs a free loop device with file, read-only, and returns
// the device. The device stays attached: dm-verity holds it for the
// whole boot.
func attachLoop(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("loop: %w", err)
	}
	defer f.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("loop: %w", err)
	}
	defer ctl.Close()
	n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
	if err != nil {
		return "", fmt.Errorf("loop: find a free device: %w", err)
	}
	dev := fmt.Sprintf("/dev/loop%d", n)
	lf, err := os.OpenFile(dev, os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("loop: %w", err)
	}
	defer lf.Close()
	cfg := unix.LoopConfig{Fd: uint32(f.Fd()), Info: unix.LoopInfo64{Flags: unix.LO_FLAGS_READ_ONLY}}
	copy(cfg.Info.File_name[:len(cfg.Info.File_name)-1], file)
	if err := unix.IoctlLoopConfigure(int(lf.Fd()), &cfg); err != nil {
		return "", fmt.Errorf("loop: attach %s to %s: %w", file, dev, err)
	}
	return dev, nil
}
