// Package lowprio puts background work on an OS thread of its own at a
// lower CPU and I/O priority, so that it yields to what the machine is
// for: the boot's critical path, the user's containers.
package lowprio

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// ioprio_set's arguments (linux/ioprio.h): the calling thread, and the
// best-effort class at its lowest level. Not the idle class: work in it
// can wait for ever on a disk that is never idle.
const (
	whoProcess = 1
	classBE    = 2
	classShift = 13
	lowestBE   = classBE<<classShift | 7
)

// Thread locks the calling goroutine to its OS thread for good and lowers
// that thread's CPU priority to nice and its I/O priority to the lowest
// best-effort level. Never unlocked on purpose: the thread ends with the
// goroutine, and its priorities with it, and no other goroutine runs on
// it meanwhile. Threads the runtime starts meanwhile come from its
// template thread, at the process's own priority. Call it first thing in
// a goroutine of its own.
func Thread(nice int) error {
	runtime.LockOSThread()
	tid := unix.Gettid()
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil {
		return fmt.Errorf("lower thread %d to nice %d: %w", tid, nice, err)
	}
	if _, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, whoProcess, uintptr(tid), lowestBE); e != 0 {
		return fmt.Errorf("lower thread %d's I/O priority: %w", tid, e)
	}
	return nil
}
