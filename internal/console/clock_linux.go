package console

import "golang.org/x/sys/unix"

// SinceBootMS is CLOCK_BOOTTIME in milliseconds: the time since the kernel
// started, the clock of the kernel's own log and of the ready line.
func SinceBootMS() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return -1
	}
	return ts.Nano() / 1e6
}
