package reaper

import (
	"context"
	"os/exec"
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

func TestExitBeforeRegistrationIsKept(t *testing.T) {
	r := New()
	// No Run loop: reap by hand after the child is certainly gone, then
	// check that a later waiter still gets the status.
	cmd := exec.Command("sh", "-c", "exit 3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	time.Sleep(200 * time.Millisecond)
	r.Reap()
	r.mu.Lock()
	e, ok := r.unclaimed[pid]
	r.mu.Unlock()
	if !ok || e.Status.ExitStatus() != 3 {
		t.Fatalf("unclaimed[%d] = %v, %v", pid, e, ok)
	}
	if err := r.WaitNone(context.Background()); err != nil {
		t.Fatal(err)
	}
}
