package timesync

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// AdjustClock steps or slews the system clock by offset.
// Equivalent to: date -s; adjtime(3)
func AdjustClock(a Action, offset time.Duration) error {
	switch a {
	case Step:
		tv := unix.NsecToTimeval(time.Now().Add(offset).UnixNano())
		if err := unix.Settimeofday(&tv); err != nil {
			return fmt.Errorf("step the clock: %w", err)
		}
	case Slew:
		tx := unix.Timex{Modes: unix.ADJ_OFFSET_SINGLESHOT, Offset: offset.Microseconds()}
		if _, err := unix.Adjtimex(&tx); err != nil {
			return fmt.Errorf("slew the clock: %w", err)
		}
	}
	return nil
}
