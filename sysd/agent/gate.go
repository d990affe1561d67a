package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"berth.dev/berth/sysd/api/wire"
)

// HealthGate is the health gate a slot on trial must pass: every service marked
// HealthGate up (or done, skipped, or disabled by the admin), and every
// user check answering, within Timeout.
type HealthGate struct {
	Timeout time.Duration
	Checks  []string // URLs, as os-ctl probe takes them
	List    func() []wire.Service
	Probe   func(ctx context.Context, url string) error
	Poll    time.Duration // default 500ms
}

// Wait returns nil once the gate holds, or why it does not: at once for a
// required service that failed for good, else at the deadline.
func (g HealthGate) Wait(ctx context.Context) error {
	poll := g.Poll
	if poll == 0 {
		poll = 500 * time.Millisecond
	}
	deadline := time.Now().Add(g.Timeout)
	for {
		waiting, fatal := g.pending(ctx)
		if fatal != "" {
			return errors.New(fatal)
		}
		if len(waiting) == 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%s not healthy within %s", strings.Join(waiting, ", "), g.Timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// pending lists what is not yet healthy; fatal names a service that will
// not become so.
func (g HealthGate) pending(ctx context.Context) (waiting []string, fatal string) {
	for _, st := range g.List() {
		if !st.HealthGate {
			continue
		}
		switch st.State {
		case wire.Up, wire.Finished, wire.Skipped, wire.Disabled:
		case wire.Failed, wire.Invalid:
			why := st.Reason
			if why == "" && len(st.Problems) > 0 {
				why = st.Problems[0]
			}
			return nil, fmt.Sprintf("%s %s: %s", st.Name, st.State, why)
		default:
			waiting = append(waiting, st.Name)
		}
	}
	for _, c := range g.Checks {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := g.Probe(pctx, c); err != nil {
			waiting = append(waiting, "check "+c)
		}
		cancel()
	}
	sort.Strings(waiting)
	return waiting, ""
}
