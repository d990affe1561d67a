// Package supervise holds the composable parts that keep a service
// running: a restart policy wraps any runner, records every state change,
// backs off exponentially with a cap and gives up on a crash loop.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"time"

	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/unit"
)

// Runner runs a service once: Run returns when it has ended, nil for a
// clean exit.
type Runner interface {
	Run(ctx context.Context) error
}

// RunnerFunc adapts a function.
type RunnerFunc func(ctx context.Context) error

func (f RunnerFunc) Run(ctx context.Context) error { return f(ctx) }

// Event is one state change.
type Event struct {
	State wire.State // Starting, Exited, Backoff, Failed, Finished or Stopped
	Msg   string
}

func (e Event) String() string {
	if e.Msg == "" {
		return string(e.State)
	}
	return string(e.State) + ": " + e.Msg
}

// Clock is the time source; tests pass a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// ErrStartLimit ends a crash loop.
var ErrStartLimit = errors.New("start limit hit")

// Restart runs Runner again according to Policy (systemd's Restart=: no,
// on-failure, always), waiting Min after the first exit, doubling up to
// Max, and fails when Burst starts fall within Interval
// (StartLimitBurst/StartLimitIntervalSec).
type Restart struct {
	Runner   Runner
	Policy   unit.RestartPolicy
	Min, Max time.Duration
	Burst    int
	Interval time.Duration
	Clock    Clock
	Record   func(Event)
}

// Run supervises until the policy says stop, the start limit is hit, or
// ctx ends.
func (r *Restart) Run(ctx context.Context) error {
	clock := r.Clock
	if clock == nil {
		clock = realClock{}
	}
	record := r.Record
	if record == nil {
		record = func(Event) {}
	}
	var starts []time.Time
	delay := r.Min
	for {
		now := clock.Now()
		starts = since(starts, now.Add(-r.Interval))
		if r.Burst > 0 && len(starts) >= r.Burst {
			msg := fmt.Sprintf("%d starts within %v: giving up (StartLimitBurst=%d, StartLimitIntervalSec=%v)", len(starts), r.Interval, r.Burst, r.Interval)
			record(Event{wire.Failed, msg})
			return fmt.Errorf("%w: %s", ErrStartLimit, msg)
		}
		starts = append(starts, now)
		record(Event{State: wire.Starting})
		err := r.Runner.Run(ctx)
		if ctx.Err() != nil {
			record(Event{State: wire.Stopped})
			return nil
		}
		if err != nil {
			record(Event{wire.Exited, err.Error()})
		} else {
			record(Event{wire.Exited, "status 0"})
		}
		if !restarts(r.Policy, err) {
			if err != nil {
				record(Event{wire.Failed, fmt.Sprintf("Restart=%s: not restarted", r.Policy)})
				return err
			}
			record(Event{State: wire.Finished})
			return nil
		}
		record(Event{wire.Backoff, fmt.Sprintf("restarting in %v", delay)})
		select {
		case <-clock.After(delay):
		case <-ctx.Done():
			record(Event{State: wire.Stopped})
			return nil
		}
		delay = min(delay*2, r.Max)
	}
}

func restarts(policy unit.RestartPolicy, err error) bool {
	switch policy {
	case unit.RestartAlways:
		return true
	case unit.RestartOnFailure:
		return err != nil
	}
	return false
}

// since drops the times before t.
func since(ts []time.Time, t time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(t) {
		i++
	}
	return ts[i:]
}
