package reaper

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// The test process is not PID 1, but wait4(-1) works on its own children,
// which is all the reaper relies on.
func TestStartPublishesExit(t *testing.T) {
	r := New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)

	for _, tc := range []struct {
		args []string
		code int
	}{{[]string{"true"}, 0}, {[]string{"sh", "-c", "exit 7"}, 7}} {
		_, ch, err := r.Start(exec.Command(tc.args[0], tc.args[1:]...))
		if err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-ch:
			if !e.Status.Exited() || e.Status.ExitStatus() != tc.code {
				t.Fatalf("%v: got %v, want exit %d", tc.args, e, tc.code)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: no exit published", tc.args)
		}
	}
}

// An orphan reaped with nobody waiting must not leave its status behind
// for the next child that gets the same pid: a console user who cycles
// pids could otherwise make a service look as if it had exited. The test
// runs in a new PID namespace, where it sets ns_last_pid to make the pid
// repeat.
func TestOrphanStatusIsNotHandedToPidReuser(t *testing.T) {
	if os.Getenv("REAPER_PIDNS_CHILD") == "1" {
		pidReuseInNamespace()
		return
	}
	if os.Getuid() != 0 {
		t.Skip("needs root for a PID namespace")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestOrphanStatusIsNotHandedToPidReuser$")
	cmd.Env = append(os.Environ(), "REAPER_PIDNS_CHILD=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in a new PID namespace: %v\n%s", err, out)
	}
}

// pidReuseInNamespace runs as PID 1 of a fresh namespace; it exits non-zero
// with the reason when the stale status is delivered.
func pidReuseInNamespace() {
	fail := func(f string, a ...any) {
		fmt.Fprintf(os.Stderr, f+"\n", a...)
		os.Exit(1)
	}
	r := New()
	// The orphan: a child nobody registered, as one re-parented to us.
	orphan := exec.Command("sh", "-c", "exit 3")
	if err := orphan.Start(); err != nil {
		fail("start orphan: %v", err)
	}
	pid := orphan.Process.Pid
	for deadline := time.Now().Add(10 * time.Second); ; {
		if r.Reap() {
			break
		}
		if time.Now().After(deadline) {
			fail("orphan %d not reaped", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(fmt.Sprint(pid-1)), 0); err != nil {
		fail("set ns_last_pid: %v", err)
	}
	got, ch, err := r.Start(exec.Command("sleep", "0.3"))
	if err != nil {
		fail("start: %v", err)
	}
	if got != pid {
		fail("pid not reused: orphan had %d, new child %d", pid, got)
	}
	go r.Run(context.Background())
	select {
	case e := <-ch:
		if !e.Status.Exited() || e.Status.ExitStatus() != 0 {
			fail("new child %d got %v, the orphan's status", got, e)
		}
	case <-time.After(10 * time.Second):
		fail("no exit published for %d", got)
	}
	os.Exit(0)
}

// A child that exits before Start has returned still gets its status: Start
// holds the lock from fork to registration.
func TestExitBeforeStartReturns(t *testing.T) {
	r := New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			r.Reap() // as fast as possible, to race Start
		}
	}()
	for i := 0; i < 50; i++ {
		_, ch, err := r.Start(exec.Command("true"))
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("run %d: exit lost", i)
		}
	}
}
