package service

import (
	"context"
	"time"
)

// healthLoop runs the health check every HealthInterval, the first time
// once ready is closed (at READY=1 for a service that sends it, else at
// once), and sends each result. Until the first success within
// HealthStartPeriod (counted from the start) it checks every
// HealthStartInterval.
func (s *svc) healthLoop(ctx context.Context, p Process, out chan<- error, ready <-chan struct{}) {
	c := s.def.Unit.Container
	started, passed := time.Now(), false
	select {
	case <-ready:
	case <-ctx.Done():
		return
	}
	for {
		err := p.Check(ctx)
		passed = passed || err == nil
		select {
		case out <- err:
		case <-ctx.Done():
			return
		}
		wait := c.HealthInterval
		if !passed && time.Since(started) < c.HealthStartPeriod && c.HealthStartInterval < wait {
			wait = c.HealthStartInterval
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
	}
}
