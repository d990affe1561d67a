package service

import (
	"context"
	"io"
	"time"

	"berth.dev/berth/sysd/cgroup"
	"berth.dev/berth/sysd/notify"
)

// Runner starts one instance of a service: the seam between the
// supervisor's state machine (dependencies, readiness, health, the
// watchdog, restarts, stopping) and what a service runs in. The
// container runner is the real one; the state machine's tests give a fake.
type Runner interface {
	Start(ctx context.Context, in Instance) (Process, error)
}

// Instance is what a runner is told to start.
type Instance struct {
	Name   string
	Def    *Definition
	Log    io.Writer // the service's log, for its output
	Notify bool      // the service speaks sd_notify: give it a socket
	// Logf writes to sysd's own log (how a stop went).
	Logf func(format string, args ...any)
}

// Process is one running instance of a service.
type Process interface {
	Pid() int
	// Done is closed when the service's main process has ended. Err
	// then waits until everything it left behind is gone and says how it
	// ended (nil: status 0).
	Done() <-chan struct{}
	Err() error
	// Notes are the service's sd_notify messages; nil without a socket.
	Notes() <-chan notify.Message
	// Check runs the unit's HealthCmd once inside the service.
	Check(ctx context.Context) error
	// Stop sends SIGTERM to the main process, waits up to grace, then
	// kills everything of the service, and returns once it has ended.
	// A grace of 0 kills at once.
	Stop(grace time.Duration)
	// Usage is what the service uses now, or nil.
	Usage() *cgroup.Usage
}
