// Package reaper is a reaping process's one and only collector of exited
// children: PID 1's, and sysd's (a child subreaper, which inherits the
// orphans of its services). Each such process runs exactly one.
//
// A reaping process inherits orphans, so exactly one place in it may call
// wait4(-1): a second waiter (exec.Cmd.Wait beside a global wait4) races it
// and one of them loses the status. The reaper publishes each {pid, status}
// to whoever started that pid through Start. A status nobody asked for is
// an orphan's and is dropped: kept, it would be handed to the next child
// that reuses the pid. Start holds the lock from fork to registration, so
// its own child's exit always finds the waiter.
package reaper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Exit is one reaped child.
type Exit struct {
	Pid    int
	Status unix.WaitStatus
}

func (e Exit) String() string {
	switch {
	case e.Status.Exited():
		return fmt.Sprintf("pid %d exited with status %d", e.Pid, e.Status.ExitStatus())
	case e.Status.Signaled():
		return fmt.Sprintf("pid %d killed by signal %v", e.Pid, e.Status.Signal())
	}
	return fmt.Sprintf("pid %d ended (wait status %#x)", e.Pid, uint32(e.Status))
}

// Reaper collects children with wait4 when SIGCHLD arrives.
type Reaper struct {
	drain   sync.Mutex // serialises wait4 loops
	mu      sync.Mutex // guards waiters; held by Start from fork to registration
	waiters map[int]chan Exit
}

// New returns a reaper; call Run to start collecting.
func New() *Reaper {
	return &Reaper{waiters: map[int]chan Exit{}}
}

// Run reaps children until ctx ends.
func (r *Reaper) Run(ctx context.Context) {
	sig := make(chan os.Signal, 16)
	signal.Notify(sig, unix.SIGCHLD)
	defer signal.Stop(sig)
	// A periodic sweep covers a SIGCHLD coalesced with one we were
	// already handling.
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		r.Reap()
		select {
		case <-ctx.Done():
			return
		case <-sig:
		case <-tick.C:
		}
	}
}

// Reap collects every child that has exited and reports whether PID 1 has
// no children left at all.
func (r *Reaper) Reap() (none bool) {
	r.drain.Lock()
	defer r.drain.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.ECHILD) {
			return true
		}
		if err != nil || pid <= 0 {
			return false
		}
		r.publish(Exit{Pid: pid, Status: ws})
	}
}

func (r *Reaper) publish(e Exit) {
	r.mu.Lock()
	ch, ok := r.waiters[e.Pid]
	delete(r.waiters, e.Pid)
	r.mu.Unlock()
	if ok {
		ch <- e // buffered: never blocks
	}
}

// Start starts cmd and returns its pid and a channel that receives its
// exit. Never call cmd.Wait: the reaper owns wait4. Nor use
// cmd.Process.Pid afterwards: releasing the process sets it to -1, and
// kill(-1) signals every process there is.
func (r *Reaper) Start(cmd *exec.Cmd) (int, <-chan Exit, error) {
	ch := make(chan Exit, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return 0, nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	pid := cmd.Process.Pid
	// Drop the pidfd Go keeps; we learn about the exit from wait4.
	_ = cmd.Process.Release()
	r.waiters[pid] = ch
	return pid, ch, nil
}

// WaitNone reaps until PID 1 has no children left or ctx ends.
func (r *Reaper) WaitNone(ctx context.Context) error {
	for {
		if r.Reap() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for all processes to exit: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
