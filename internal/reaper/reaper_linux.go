// Package reaper is a reaping process's one and only collector of exited
// children: PID 1's, and sysd's (a child subreaper, which inherits the
// orphans of its services). Each such process runs exactly one.
//
// A reaping process inherits orphans, so exactly one place in it may call
// wait4(-1): a second waiter (exec.Cmd.Wait beside a global wait4) races it
// and one of them loses the status. The reaper publishes each {pid, status}
// to whoever asked for that pid, and keeps statuses nobody has asked for yet
// so that a child which exits before its starter registers is not lost.
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
	drain     sync.Mutex // serialises wait4 loops
	mu        sync.Mutex // guards the maps below
	waiters   map[int]chan Exit
	unclaimed map[int]Exit
}

// New returns a reaper; call Run to start collecting.
func New() *Reaper {
	return &Reaper{waiters: map[int]chan Exit{}, unclaimed: map[int]Exit{}}
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
	if ok {
		delete(r.waiters, e.Pid)
	} else {
		r.unclaimed[e.Pid] = e
		// Orphans nobody waits for would grow this map forever.
		if len(r.unclaimed) > 1024 {
			for pid := range r.unclaimed {
				delete(r.unclaimed, pid)
				break
			}
		}
	}
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
	if e, ok := r.unclaimed[pid]; ok {
		delete(r.unclaimed, pid)
		ch <- e
	} else {
		r.waiters[pid] = ch
	}
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
