package console

import "golang.org/x/sys/unix"

// sinceBootMS is CLOCK_BOOTTIME in milliseconds: the time since the kernel
// started, the clock of the kernel's own log and of the ready line.
func sinceBootMS() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return -1
	}
	return ts.Nano() / 1e6
}

// SinceBootMS is exported for the ready line.
func SinceBootMS() int64 { return sinceBootMS() }
