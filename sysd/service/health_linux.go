package service

import (
	"context"
	"time"
)

// healthLoop runs the health check every HealthInterval, the first time
// right away, and sends each result. Until the first success within
// HealthStartPeriod it checks every HealthStartInterval.
func (s *svc) healthLoop(ctx context.Context, p Process, out chan<- error) {
	c := s.def.Unit.Container
	started, passed := time.Now(), false
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
