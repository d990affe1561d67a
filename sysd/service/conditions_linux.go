package service

import (
	"context"
	"fmt"

	"berth.dev/berth/sysd/api/wire"
)

// Condition is something a service waits for before it starts, printable
// so that a waiting service says what it waits for.
type Condition interface {
	String() string
	Wait(ctx context.Context) error
}

// upCondition is "NAME is up": a dependency a service waits for. It is a
// printable value so a waiting service can say what it waits for.
type upCondition struct {
	m        *Manager
	name     string
	required bool
}

func (c *upCondition) String() string {
	return fmt.Sprintf("waiting for %s to be up", c.name)
}

// Wait returns nil once the service is up (or a oneshot has finished),
// and an error when a required one ended otherwise. A wanted service that
// is not going to come up is not waited for, as in systemd.
func (c *upCondition) Wait(ctx context.Context) error {
	for {
		c.m.mu.Lock()
		s, ok := c.m.svcs[c.name]
		var state wire.State
		var reason string
		active := false
		if ok {
			state, reason, active = s.state, s.reason, s.active()
		}
		ch := c.m.changed
		c.m.mu.Unlock()
		switch {
		case !ok:
			return nil
		case state == wire.Up || state == wire.Finished:
			return nil
		case !active && state != wire.Inactive || state == wire.Failed:
			if !c.required {
				return nil
			}
			if reason != "" {
				return fmt.Errorf("dependency %s is %s: %s", c.name, state, reason)
			}
			return fmt.Errorf("dependency %s is %s", c.name, state)
		case !active && state == wire.Inactive && !c.required && (!s.enabled || c.m.booted):
			// ordered after a service nobody is starting: nothing to wait for
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
