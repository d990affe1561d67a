package service

import (
	"context"
	"fmt"
	"time"

	"berth.dev/berth/sysd/api/wire"
)

// run runs the service once through the manager's runner: it returns when
// the service has ended (nil for status 0) or, when ctx ends, after
// stopping it. Meanwhile it follows readiness (sd_notify READY=1), the
// start timeout, the watchdog and the health check.
func (s *svc) run(ctx context.Context) error {
	m, u := s.m, s.def.Unit
	// waitsReady: up only at READY=1. The socket is also there for the
	// watchdog alone.
	waitsReady := u.Service.Type == "notify" || u.Container.Notify
	notifies := waitsReady || u.Service.WatchdogSec > 0
	p, err := m.cfg.Runner.Start(ctx, Instance{Name: s.name, Def: s.def, Log: s.log, Notify: notifies, Logf: m.logf})
	if err != nil {
		return err
	}
	s.update(func() {
		s.pid, s.proc = p.Pid(), p
		s.ready = !waitsReady
		if len(u.Container.HealthCmd) > 0 {
			s.health = wire.HealthStarting
		}
		s.set(wire.Running, fmt.Sprintf("pid %d", p.Pid()))
		s.checkUp()
	})

	var startTimeout <-chan time.Time
	if u.Service.Type == "notify" && u.Service.TimeoutStartSec > 0 {
		t := time.NewTimer(u.Service.TimeoutStartSec)
		defer t.Stop()
		startTimeout = t.C
	}
	var watchdog *time.Timer
	var watchdogC <-chan time.Time
	if u.Service.WatchdogSec > 0 {
		watchdog = time.NewTimer(u.Service.WatchdogSec)
		defer watchdog.Stop()
		watchdogC = watchdog.C
	}
	health := make(chan error, 1)
	hctx, stopHealth := context.WithCancel(ctx)
	defer stopHealth()
	// A service that says when it is ready is checked from then on: each
	// check is an exec in its namespaces, and checking a daemon that has
	// not said READY=1 yet only takes the CPU from its start.
	ready := make(chan struct{})
	if !waitsReady {
		close(ready)
	}
	if len(u.Container.HealthCmd) > 0 {
		go s.healthLoop(hctx, p, health, ready)
	}
	failures, started := 0, time.Now()

	for {
		select {
		case <-p.Done():
			return p.Err()
		case msg := <-p.Notes():
			s.update(func() {
				if msg.Status != "" {
					s.svcStatus = msg.Status
				}
				if msg.Ready && !s.ready {
					s.ready = true
					close(ready)
					startTimeout = nil
					s.checkUp()
				}
				if msg.Stopping {
					s.set(wire.Stopping, "STOPPING=1")
				}
			})
			if msg.Watchdog && watchdog != nil {
				watchdog.Reset(u.Service.WatchdogSec)
			}
		case <-startTimeout:
			if ended(p) {
				return p.Err()
			}
			p.Stop(0)
			return fmt.Errorf("no READY=1 within %v (TimeoutStartSec)", u.Service.TimeoutStartSec)
		case <-watchdogC:
			if ended(p) {
				return p.Err()
			}
			s.record("watchdog", fmt.Sprintf("no WATCHDOG=1 within %v (WatchdogSec): killing", u.Service.WatchdogSec))
			p.Stop(0)
			return fmt.Errorf("watchdog timeout: no WATCHDOG=1 within %v", u.Service.WatchdogSec)
		case err := <-health:
			s.update(func() {
				s.healthErr = ""
				if err != nil {
					s.healthErr = err.Error()
				}
				switch {
				case err == nil:
					failures = 0
					if s.health != wire.Healthy {
						s.health = wire.Healthy
						s.checkUp()
					}
				case s.health == wire.HealthStarting && time.Since(started) < u.Container.HealthStartPeriod:
					// failures in the start period do not count, as in Docker
				default:
					failures++
					if failures >= u.Container.HealthRetries && s.health != wire.HealthFailing {
						s.health = wire.HealthFailing
						s.set(wire.Unhealthy, err.Error())
					}
				}
			})
		case <-ctx.Done():
			s.record(wire.Stopping, "")
			p.Stop(u.Service.TimeoutStopSec)
			return nil
		}
	}
}

// checkUp moves a running service to up once it is ready and (if it has
// a health check) healthy; m.mu is held.
func (s *svc) checkUp() {
	hasHealth := len(s.def.Unit.Container.HealthCmd) > 0
	if s.ready && (!hasHealth || s.health == wire.Healthy) && s.state != wire.Up {
		s.set(wire.Up, "")
	}
}

// ended says whether the main process has ended: its end comes before a
// timer that fired in the same moment.
func ended(p Process) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}
