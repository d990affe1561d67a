package agent

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The ESP's mount waits out a vfat driver still loading (ENODEV), and
// only that: any other error is returned at once.
func TestRetryNoDevice(t *testing.T) {
	calls := 0
	err := retryNoDevice(10*time.Second, func() error {
		if calls++; calls < 4 {
			return unix.ENODEV
		}
		return nil
	})
	if err != nil || calls != 4 {
		t.Fatalf("after %d calls: %v", calls, err)
	}
	calls = 0
	err = retryNoDevice(10*time.Second, func() error { calls++; return unix.EINVAL })
	if !errors.Is(err, unix.EINVAL) || calls != 1 {
		t.Fatalf("EINVAL after %d calls: %v", calls, err)
	}
	start := time.Now()
	err = retryNoDevice(300*time.Millisecond, func() error { return unix.ENODEV })
	if !errors.Is(err, unix.ENODEV) || time.Since(start) > 5*time.Second {
		t.Fatalf("a driver that never comes: %v after %v", err, time.Since(start))
	}
}
