package service

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"berth.dev/berth/internal/reaper"
	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/cgroup"
	"berth.dev/berth/sysd/logs"
	"berth.dev/berth/sysd/unit"
)

// Config is where the manager finds and keeps things.
type Config struct {
	Dirs         []string // unit directories; a later one overrides an earlier
	DisabledFile string   // names disabled by the admin, one a line
	ImagesDir    string   // Image=NAME is NAME.squashfs, NAME.erofs or NAME/ here
	RunDir       string   // staging roots, notify sockets, image mounts
	LogDir       string   // NAME.log files; empty keeps logs in memory only
	LogLines     int      // ring buffer size per service
	LogMaxSize   int64
	Cgroups      cgroup.Tree
	Cmdline      string
	Reaper       *reaper.Reaper
	Helper       string // the container's first process; empty: this binary
	MaxBackoff   time.Duration
	// Runner starts the services; nil: each in a system container
	// (ContainerRunner over Cgroups, Reaper, RunDir and Helper).
	Runner Runner
	// Targets are conditions named like units that After= may name,
	// such as network-online.target.
	Targets map[string]Condition
	// Logs are further logs reachable by name (sysd's own, the kernel's).
	Logs map[string]*logs.Log
}

// Manager supervises every service. One lock guards the state of all of
// them; subscribers are told of events after it is released.
type Manager struct {
	cfg Config

	mu      sync.Mutex
	defs    map[string]*Definition
	svcs    map[string]*svc
	changed chan struct{} // closed and replaced on every state change
	subs    map[chan wire.Event]struct{}

	booted bool // StartAll has launched every enabled service

	imgMu  sync.Mutex
	images map[string]string
}

// New returns a manager with nothing loaded.
func New(cfg Config) *Manager {
	if cfg.LogLines == 0 {
		cfg.LogLines = 1000
	}
	if cfg.LogMaxSize == 0 {
		cfg.LogMaxSize = 1 << 20
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	m := &Manager{cfg: cfg, defs: map[string]*Definition{}, svcs: map[string]*svc{},
		changed: make(chan struct{}), subs: map[chan wire.Event]struct{}{}, images: map[string]string{}}
	if m.cfg.Runner == nil {
		m.cfg.Runner = &ContainerRunner{Image: m.Image, RunDir: cfg.RunDir, Cgroups: cfg.Cgroups, Reaper: cfg.Reaper, Helper: cfg.Helper}
	}
	return m
}

// Load reads the unit files. Services already known keep running; a
// changed definition applies from their next start.
func (m *Manager) Load() error {
	defs, err := Load(m.cfg.Dirs)
	if err != nil {
		return err
	}
	disabled := unit.ReadDisabled(m.cfg.DisabledFile)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.defs = defs
	for name, d := range defs {
		s, ok := m.svcs[name]
		if !ok {
			path := ""
			if m.cfg.LogDir != "" {
				path = filepath.Join(m.cfg.LogDir, strings.TrimSuffix(name, ".service")+".log")
			}
			s = &svc{m: m, name: name, log: logs.New(path, m.cfg.LogLines, m.cfg.LogMaxSize)}
			m.svcs[name] = s
		}
		s.def = d
		s.enabled = !disabled[name]
		if s.active() {
			continue
		}
		switch {
		case d.Invalid != "":
			s.set(wire.Invalid, d.Invalid)
		case !s.enabled:
			s.set(wire.Disabled, "")
		default:
			if ok, why := ConditionsHold(d.Unit, m.cfg.Cmdline); !ok {
				s.set(wire.Skipped, why)
			} else if s.state == "" || s.state == wire.Disabled || s.state == wire.Invalid || s.state == wire.Skipped {
				s.set(wire.Inactive, "")
			}
		}
	}
	m.broadcastLocked()
	return nil
}

// StartAll starts every enabled, valid service whose conditions hold;
// each waits for what it is ordered after, so independent ones start in
// parallel.
func (m *Manager) StartAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, name := range sortedNames(m.defs) {
		s := m.svcs[name]
		if s.enabled && s.state == wire.Inactive {
			s.launch()
		}
	}
	m.booted = true
}

// SetTarget names a condition After= may refer to; call it before
// StartAll.
func (m *Manager) SetTarget(name string, c Condition) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cfg.Targets == nil {
		m.cfg.Targets = map[string]Condition{}
	}
	m.cfg.Targets[name] = c
}

// Reload reads the unit files again and starts the enabled services that
// are new (systemctl daemon-reload, then start what is wanted).
func (m *Manager) Reload() error {
	if err := m.Load(); err != nil {
		return err
	}
	m.StartAll()
	return nil
}

// StopAll stops every service in reverse dependency order.
func (m *Manager) StopAll() {
	m.mu.Lock()
	order := StopOrder(m.defs)
	m.mu.Unlock()
	for _, level := range order {
		var wg sync.WaitGroup
		for _, name := range level {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.Stop(name)
			}()
		}
		wg.Wait()
	}
}

func (m *Manager) get(name string) (*svc, error) {
	if !strings.Contains(name, ".") {
		name += ".service"
	}
	s, ok := m.svcs[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return s, nil
}

// Start starts a service (and what it requires) now.
func (m *Manager) Start(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.get(name)
	if err != nil {
		return err
	}
	if s.def.Invalid != "" {
		return fmt.Errorf("%s is not valid: %s", s.name, s.def.Invalid)
	}
	s.launch()
	return nil
}

// Stop stops a service and waits until it has stopped.
func (m *Manager) Stop(name string) error {
	m.mu.Lock()
	s, err := m.get(name)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	cancel, done := s.cancel, s.done
	m.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-done
	return nil
}

// Restart stops and starts a service.
func (m *Manager) Restart(name string) error {
	if err := m.Stop(name); err != nil {
		return err
	}
	return m.Start(name)
}

// Enable and Disable persist the choice in the disabled file; they do not
// start or stop the service (os-ctl's --now does).
func (m *Manager) Enable(name string) error  { return m.setEnabled(name, true) }
func (m *Manager) Disable(name string) error { return m.setEnabled(name, false) }

func (m *Manager) setEnabled(name string, on bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.get(name)
	if err != nil {
		return err
	}
	if err := unit.SetDisabled(m.cfg.DisabledFile, map[string]bool{s.name: !on}); err != nil {
		return err
	}
	s.enabled = on
	if !on && !s.active() {
		s.set(wire.Disabled, "")
	} else if on && s.state == wire.Disabled {
		s.set(wire.Inactive, "")
	}
	m.broadcastLocked()
	return nil
}

// List returns every service's status, by name.
func (m *Manager) List() []wire.Service {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []wire.Service
	for _, name := range sortedNames(m.defs) {
		out = append(out, m.svcs[name].status(false))
	}
	return out
}

// Get returns one service's status with its event history.
func (m *Manager) Get(name string) (wire.Service, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.get(name)
	if err != nil {
		return wire.Service{}, err
	}
	return s.status(true), nil
}

// Log returns the log of a service or of sysd or the kernel.
func (m *Manager) Log(name string) (*logs.Log, error) {
	if l, ok := m.cfg.Logs[name]; ok {
		return l, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.get(name)
	if err != nil {
		return nil, err
	}
	return s.log, nil
}

// Subscribe returns a channel of every event from now on.
func (m *Manager) Subscribe() (<-chan wire.Event, func()) {
	ch := make(chan wire.Event, 256)
	m.mu.Lock()
	m.subs[ch] = struct{}{}
	m.mu.Unlock()
	return ch, func() {
		m.mu.Lock()
		delete(m.subs, ch)
		m.mu.Unlock()
	}
}

// WaitUp waits until every named service is up (or finished, for a
// oneshot) and returns the first that ended otherwise.
func (m *Manager) WaitUp(ctx context.Context, names ...string) error {
	for _, n := range names {
		c := &upCondition{m: m, name: n}
		if err := c.Wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) publish(evs []wire.Event) {
	if len(evs) == 0 {
		return
	}
	m.mu.Lock()
	subs := make([]chan wire.Event, 0, len(m.subs))
	for ch := range m.subs {
		subs = append(subs, ch)
	}
	m.mu.Unlock()
	for _, ch := range subs {
		for _, e := range evs {
			select {
			case ch <- e:
			default: // a slow reader loses events rather than stalling services
			}
		}
	}
}

// broadcastLocked wakes every waiting condition; m.mu is held.
func (m *Manager) broadcastLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// logf writes to sysd's own log, when there is one.
func (m *Manager) logf(format string, args ...any) {
	if l := m.cfg.Logs["sysd"]; l != nil {
		l.Printf(format, args...)
	}
}
