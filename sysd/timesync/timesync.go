// Package timesync keeps the clock right with SNTP (github.com/beevik/ntp
// asks the servers): it steps the clock when it is far off and slews it
// when it is close, and asks less often as it stays right.
package timesync

import (
	"context"
	"time"

	"github.com/beevik/ntp"
)

// StepThreshold is how far off the clock may be before it is stepped
// rather than slewed (ntpd's default).
const StepThreshold = 128 * time.Millisecond

// Action is what to do with a measured offset.
type Action int

const (
	Nothing Action = iota
	Slew
	Step
)

// Decide returns what to do about offset.
func Decide(offset time.Duration) Action {
	switch {
	case offset > StepThreshold || offset < -StepThreshold:
		return Step
	case offset > time.Millisecond || offset < -time.Millisecond:
		return Slew
	}
	return Nothing
}

// Syncer asks Servers in turn, from when online is closed until ctx ends.
type Syncer struct {
	Servers []string // host or host:port
	Logf    func(format string, args ...any)
	// Query and Adjust are the seams for tests; nil means the network
	// and the kernel's clock.
	Query  func(server string) (*ntp.Response, error)
	Adjust func(a Action, offset time.Duration) error
}

// Run keeps the clock in step: every 64 s at first, doubling up to
// 1024 s while the clock stays right.
func (s *Syncer) Run(ctx context.Context, online <-chan struct{}) {
	query := s.Query
	if query == nil {
		query = func(server string) (*ntp.Response, error) {
			return ntp.QueryWithOptions(server, ntp.QueryOptions{Timeout: 5 * time.Second})
		}
	}
	select {
	case <-online:
	case <-ctx.Done():
		return
	}
	interval, synced, quiet := 64*time.Second, false, false
	for {
		ok := false
		for _, srv := range s.Servers {
			r, err := query(srv)
			if err == nil {
				err = r.Validate()
			}
			if err != nil {
				if !quiet {
					s.Logf("time: %s: %v", srv, err)
				}
				continue
			}
			a := Decide(r.ClockOffset)
			if a != Nothing {
				if err := s.Adjust(a, r.ClockOffset); err != nil {
					s.Logf("time: adjust by %v: %v", r.ClockOffset, err)
					continue
				}
			}
			if !synced || a == Step {
				s.Logf("time: synchronised with %s (offset %v, stratum %d)", srv, r.ClockOffset.Round(time.Millisecond), r.Stratum)
			}
			synced, ok = true, true
			if a == Step {
				interval = 64 * time.Second
			} else {
				interval = min(interval*2, 1024*time.Second)
			}
			break
		}
		quiet = !ok // one report of unreachable servers, not one a minute
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
