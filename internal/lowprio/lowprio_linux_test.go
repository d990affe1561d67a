package lowprio

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The thread that calls Thread is lowered; the goroutine that started it,
// on another thread, is not.
func TestThread(t *testing.T) {
	before, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	if err != nil {
		t.Fatal(err)
	}
	type prio struct{ nice, io int }
	got := make(chan prio, 1)
	errs := make(chan error, 1)
	go func() {
		if err := Thread(19); err != nil {
			errs <- err
			return
		}
		tid := unix.Gettid()
		// getpriority's raw value is 20 - nice.
		n, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
		if err != nil {
			errs <- err
			return
		}
		io, _, e := unix.Syscall(unix.SYS_IOPRIO_GET, whoProcess, uintptr(tid), 0)
		if e != 0 {
			errs <- e
			return
		}
		got <- prio{20 - n, int(io)}
	}()
	select {
	case err := <-errs:
		t.Fatal(err)
	case p := <-got:
		if p.nice != 19 || p.io != lowestBE {
			t.Errorf("the lowered thread: nice %d, I/O priority %#x; want 19, %#x", p.nice, p.io, lowestBE)
		}
	}
	if after, _ := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid()); after != before {
		t.Errorf("the caller's thread went from %d to %d", before, after)
	}
}
