package shutdown

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Action is how the machine ends.
type Action int

const (
	Poweroff Action = iota
	Reboot
)

func (a Action) String() string {
	if a == Reboot {
		return "reboot"
	}
	return "poweroff"
}

// Unmount unmounts every mount but the root and the API file systems,
// children first. A mount that stays busy is remounted read-only, which is
// what leaves ext4 clean. Problems go to logf; nothing here can fail boot
// or shutdown.
func Unmount(logf func(format string, args ...any)) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		logf("read mounts: %v", err)
		return
	}
	ms := ParseMountinfo(f)
	f.Close()
	for _, target := range TeardownOrder(ms) {
		err := unix.Unmount(target, 0)
		if err == nil {
			continue
		}
		if rerr := unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); rerr != nil {
			logf("unmount %s: %v; remount read-only: %v", target, err, rerr)
			// Last resort: detach it so the block device is released when
			// the last user goes.
			_ = unix.Unmount(target, unix.MNT_DETACH)
			continue
		}
		logf("unmount %s: %v; remounted read-only instead", target, err)
	}
	// The root is read-only already; this only matters if it was not.
	_ = unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
}

// Final syncs with a time cap (a hung device must not keep the machine up)
// and powers off or reboots, saying so through logf (the consoles'
// logger). It does not return.
func Final(a Action, logf func(format string, args ...any)) {
	done := make(chan struct{})
	go func() { unix.Sync(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		logf("sync did not finish in 10s; going on")
	}
	cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
	if a == Reboot {
		cmd = unix.LINUX_REBOOT_CMD_RESTART
	}
	logf("%s", a)
	err := unix.Reboot(cmd)
	logf("%s failed: %v; halting", a, err)
	select {}
}
