package service

import (
	"context"
	"slices"
	"time"

	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/logs"
	"berth.dev/berth/sysd/supervise"
)

// svc is one service's state; every field is guarded by m.mu.
type svc struct {
	m       *Manager
	name    string
	def     *Definition
	log     *logs.Log
	enabled bool

	state     wire.State
	reason    string
	since     time.Time
	pid       int
	ready     bool
	health    wire.Health
	healthErr string
	svcStatus string
	waiting   string
	starts    int
	proc      Process // the running instance, while pid is set
	events    []wire.Event
	pending   []wire.Event // to publish after m.mu is released

	cancel context.CancelFunc
	done   chan struct{}
}

const maxEvents = 200

// set records a state change; m.mu is held.
func (s *svc) set(state wire.State, msg string) {
	e := wire.Event{Service: s.name, Time: time.Now(), State: state, Msg: msg}
	s.state, s.since = state, e.Time
	if state == wire.Failed || state == wire.Invalid || state == wire.Skipped {
		s.reason = msg
	}
	s.events = append(s.events, e)
	if len(s.events) > maxEvents {
		s.events = s.events[len(s.events)-maxEvents:]
	}
	s.pending = append(s.pending, e)
	s.m.broadcastLocked()
}

// record takes the lock, sets the state and publishes the event.
func (s *svc) record(state wire.State, msg string) {
	s.m.mu.Lock()
	s.set(state, msg)
	evs := s.takePending()
	s.m.mu.Unlock()
	s.m.publish(evs)
}

// update changes fields under the lock and publishes what it recorded.
func (s *svc) update(f func()) {
	s.m.mu.Lock()
	f()
	evs := s.takePending()
	s.m.mu.Unlock()
	s.m.publish(evs)
}

func (s *svc) takePending() []wire.Event {
	evs := s.pending
	s.pending = nil
	return evs
}

// active reports whether the supervising goroutine runs; m.mu is held.
func (s *svc) active() bool {
	if s.done == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// launch starts supervising the service and pulls in what it requires
// or wants; m.mu is held.
func (s *svc) launch() {
	if s.active() || s.def.Invalid != "" {
		return
	}
	for _, dep := range append(append([]string{}, s.def.Unit.Requires...), s.def.Unit.Wants...) {
		if d, ok := s.m.svcs[dep]; ok && d.state != wire.Skipped {
			d.launch()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	s.reason, s.svcStatus, s.starts = "", "", 0
	done := s.done
	go func() {
		defer close(done)
		defer cancel()
		s.supervise(ctx)
	}()
}

func (s *svc) supervise(ctx context.Context) {
	u := s.def.Unit
	var conds []Condition
	for _, name := range u.After {
		if t, ok := s.m.cfg.Targets[name]; ok {
			conds = append(conds, t)
		}
	}
	for _, dep := range afterSet(s.m.defs, u) {
		conds = append(conds, &upCondition{m: s.m, name: dep, required: slices.Contains(u.Requires, dep)})
	}
	for _, c := range conds {
		s.update(func() {
			s.waiting = c.String()
			s.set(wire.Waiting, c.String())
		})
		err := c.Wait(ctx)
		s.update(func() { s.waiting = "" })
		if ctx.Err() != nil {
			s.record(wire.Stopped, "")
			return
		}
		if err != nil {
			s.record(wire.Failed, err.Error())
			return
		}
	}
	r := &supervise.Restart{
		Runner:   supervise.RunnerFunc(s.run),
		Policy:   u.Service.Restart,
		Min:      u.Service.RestartSec,
		Max:      max(s.m.cfg.MaxBackoff, u.Service.RestartSec),
		Burst:    u.Service.StartLimitBurst,
		Interval: u.Service.StartLimitIntervalSec,
		Record: func(e supervise.Event) {
			s.update(func() {
				if e.State == wire.Starting {
					s.starts++
				}
				if e.State != wire.Starting {
					s.pid, s.proc, s.ready, s.health, s.healthErr = 0, nil, false, "", ""
				}
				s.set(e.State, e.Msg)
			})
		},
	}
	r.Run(ctx)
}

// status is the API's view; m.mu is held.
func (s *svc) status(events bool) wire.Service {
	st := wire.Service{
		Name: s.name, Description: s.def.Unit.Description, Source: s.def.Source,
		Enabled: s.enabled, State: s.state, Since: s.since, Pid: s.pid,
		Ready: s.ready, Health: s.health, HealthError: s.healthErr, Status: s.svcStatus, Waiting: s.waiting,
		Reason: s.reason, Starts: s.starts, Up: s.state == wire.Up, HealthGate: s.def.HealthGate,
	}
	for _, d := range s.def.Diags {
		st.Problems = append(st.Problems, d.String())
	}
	if s.def.Invalid != "" && len(st.Problems) == 0 {
		st.Problems = []string{s.def.Invalid}
	}
	if s.proc != nil && s.pid != 0 {
		st.Usage = s.proc.Usage()
	}
	if events {
		st.Events = append([]wire.Event(nil), s.events...)
	}
	return st
}
