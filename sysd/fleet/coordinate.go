package fleet

import (
	"context"
	"errors"
	"time"
)

// Coordinator is a machine's side of FleetLock: the update agent takes
// a reboot slot before it reboots into a new slot, and reports steady
// state once its health gate passed (at every boot: a machine that held
// nothing is told so).
type Coordinator struct {
	Member    *Member
	MachineID string
	Group     string // default "default"
	Logf      func(string, ...any)
	// Retry is the wait between tries (default 15 s).
	Retry time.Duration
}

func (c *Coordinator) body() clientParams {
	var p clientParams
	p.ClientParams.ID = c.MachineID
	p.ClientParams.Group = c.Group
	if p.ClientParams.Group == "" {
		p.ClientParams.Group = "default"
	}
	return p
}

// PreReboot returns once a manager granted this machine a reboot slot,
// or when ctx ends.
func (c *Coordinator) PreReboot(ctx context.Context) error {
	return c.until(ctx, "/v1/pre-reboot", "reboot slot")
}

// SteadyState returns once a manager took this machine's steady state,
// or when ctx ends.
func (c *Coordinator) SteadyState(ctx context.Context) error {
	return c.until(ctx, "/v1/steady-state", "steady state")
}

func (c *Coordinator) until(ctx context.Context, path, what string) error {
	retry := c.Retry
	if retry <= 0 {
		retry = 15 * time.Second
	}
	last := ""
	for {
		from, err := c.Member.Client.First(ctx, c.Member.Managers(), path, c.body(), nil)
		if err == nil {
			c.Logf("fleet: %s: granted by %s", what, from)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var re *RemoteError
		msg := err.Error()
		if errors.As(err, &re) && re.Kind == "busy" {
			msg = "waiting: " + re.Value
		}
		if msg != last {
			c.Logf("fleet: %s: %s (asking again every %s)", what, msg, retry)
			last = msg
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retry):
		}
	}
}
