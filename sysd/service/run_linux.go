package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/reaper"
	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/cgroup"
	"berth.dev/berth/sysd/container"
	"berth.dev/berth/sysd/notify"
	"berth.dev/berth/sysd/unit"
)

// run runs the service's container once: it returns when the container
// has ended (nil for status 0) or, when ctx ends, after stopping it.
func (s *svc) run(ctx context.Context) error {
	m, u := s.m, s.def.Unit
	short := strings.TrimSuffix(s.name, ".service")
	root, err := m.Image(u.Container.Image)
	if err != nil {
		return err
	}
	staging := filepath.Join(m.cfg.RunDir, "containers", short)
	if err := os.MkdirAll(staging, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", staging, err)
	}
	cg, err := m.cfg.Cgroups.Create(s.name, cgroup.Limits{
		MemoryMax: u.Service.MemoryMax, CPUWeight: u.Service.CPUWeight,
		IOWeight: u.Service.IOWeight, TasksMax: u.Service.TasksMax})
	if err != nil {
		return err
	}
	cgf, err := cg.Open()
	if err != nil {
		return err
	}
	defer cgf.Close()
	oomBefore := cg.Usage().OOMKills

	for _, v := range u.Container.Volumes {
		// Like docker run -v: a missing host directory is created (on
		// STATE for persistent data).
		if _, err := os.Stat(v.Src); errors.Is(err, os.ErrNotExist) {
			os.MkdirAll(v.Src, 0o755)
		}
	}

	notifies := u.Service.Type == "notify" || u.Container.Notify || u.Service.WatchdogSec > 0
	var sock *notify.Socket
	if notifies {
		dir := filepath.Join(m.cfg.RunDir, "notify")
		os.MkdirAll(dir, 0o755)
		if sock, err = notify.Listen(filepath.Join(dir, short+".sock")); err != nil {
			return err
		}
		defer sock.Close()
	}
	spec, err := Spec(u, root, staging, sockPath(sock))
	if err != nil {
		return err
	}
	spec.Helper = m.cfg.Helper

	stdio, closeChild, err := s.stdio(u.Service.TTYPath)
	if err != nil {
		return err
	}
	p, err := container.Start(m.cfg.Reaper, spec, cgf, stdio)
	closeChild()
	if err != nil {
		if p != nil {
			<-p.Exit
		}
		cg.Kill()
		return err
	}
	s.update(func() {
		s.pid, s.cg = p.Pid, cg
		s.ready = !notifies || (u.Service.Type != "notify" && !u.Container.Notify)
		if len(u.Container.HealthCmd) > 0 {
			s.health = wire.HealthStarting
		}
		s.set(wire.Running, fmt.Sprintf("pid %d", p.Pid))
		s.checkUp()
	})

	notes := make(chan notify.Message, 16)
	if sock != nil {
		go func() {
			for {
				msg, err := sock.Read()
				if err != nil {
					return
				}
				notes <- msg
			}
		}()
	}
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
	if len(u.Container.HealthCmd) > 0 {
		hcg := cgf
		if u.Service.Delegate {
			// The service's own group holds child groups only.
			leaf := &cgroup.Group{Dir: filepath.Join(cg.Dir, container.DelegateLeaf)}
			if f, err := leaf.Open(); err == nil {
				defer f.Close()
				hcg = f
			}
		}
		go s.healthLoop(hctx, p.Pid, spec, hcg, health)
	}
	failures, started := 0, time.Now()

	for {
		select {
		case e := <-p.Exit:
			cg.KillWait(5 * time.Second) // whatever the main process left behind
			if cg.Usage().OOMKills > oomBefore {
				return fmt.Errorf("%s; killed by the OOM killer (MemoryMax=%s)", describe(e), unit.FormatBytes(u.Service.MemoryMax))
			}
			if e.Status.Exited() && e.Status.ExitStatus() == 0 {
				return nil
			}
			return errors.New(describe(e))
		case msg := <-notes:
			s.update(func() {
				if msg.Status != "" {
					s.svcStatus = msg.Status
				}
				if msg.Ready && !s.ready {
					s.ready = true
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
			s.stop(p, cg, 0)
			return fmt.Errorf("no READY=1 within %v (TimeoutStartSec)", u.Service.TimeoutStartSec)
		case <-watchdogC:
			s.record("watchdog", fmt.Sprintf("no WATCHDOG=1 within %v (WatchdogSec): killing", u.Service.WatchdogSec))
			s.stop(p, cg, 0)
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
			s.stop(p, cg, u.Service.TimeoutStopSec)
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

// stop sends SIGTERM to the main process, waits up to grace, then kills
// the whole cgroup, and waits for the exit.
func (s *svc) stop(p *container.Process, cg *cgroup.Group, grace time.Duration) {
	if grace > 0 {
		signal(p.Pid, unix.SIGTERM)
		select {
		case e := <-p.Exit:
			cg.Kill()
			s.m.logf("%s: stopped (%s)", s.name, describe(e))
			return
		case <-time.After(grace):
			s.m.logf("%s: still running %v after SIGTERM (TimeoutStopSec): killing its cgroup", s.name, grace)
		}
	}
	cg.KillWait(5 * time.Second)
	<-p.Exit
}

// signal sends sig to one process, never to a group: a pid of 0 or -1
// would reach sysd's group or every process.
func signal(pid int, sig unix.Signal) {
	if pid > 1 {
		unix.Kill(pid, sig)
	}
}

// stdio returns the container's fds 0-2: the unit's terminal, or a pipe
// into the service's log; closeChild closes sysd's copy of the child's end.
func (s *svc) stdio(tty string) (container.Stdio, func(), error) {
	if tty != "" {
		f, err := os.OpenFile(tty, os.O_RDWR|unix.O_NOCTTY, 0)
		if err != nil {
			return container.Stdio{}, nil, fmt.Errorf("TTYPath=%s: %w", tty, err)
		}
		return container.Stdio{f, f, f}, func() { f.Close() }, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return container.Stdio{}, nil, fmt.Errorf("log pipe for %s: %w", s.name, err)
	}
	go func() {
		io.Copy(s.log, r)
		r.Close()
	}()
	return container.Stdio{nil, w, w}, func() { w.Close() }, nil
}

// healthLoop runs HealthCmd inside the container every HealthInterval,
// the first time right away, and sends each result. Until the first
// success within HealthStartPeriod it checks every HealthStartInterval.
func (s *svc) healthLoop(ctx context.Context, pid int, spec container.Spec, cg *os.File, out chan<- error) {
	c := s.def.Unit.Container
	started, passed := time.Now(), false
	for {
		err := s.healthOnce(ctx, pid, spec, cg, c.HealthCmd, c.HealthTimeout)
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

func (s *svc) healthOnce(ctx context.Context, pid int, spec container.Spec, cg *os.File, args []string, timeout time.Duration) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	p, err := container.Exec(s.m.cfg.Reaper, pid, spec, args, cg, container.Stdio{nil, w, w})
	w.Close()
	if err != nil {
		if p != nil {
			<-p.Exit
		}
		return fmt.Errorf("HealthCmd: %w", err)
	}
	outc := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, 512))
		outc <- strings.TrimSpace(string(b))
	}()
	var e reaper.Exit
	select {
	case e = <-p.Exit:
	case <-time.After(timeout):
		signal(p.Pid, unix.SIGKILL)
		<-p.Exit
		return fmt.Errorf("HealthCmd %s: no answer within %v (HealthTimeout)", strings.Join(args, " "), timeout)
	case <-ctx.Done():
		signal(p.Pid, unix.SIGKILL)
		<-p.Exit
		return ctx.Err()
	}
	if e.Status.Exited() && e.Status.ExitStatus() == 0 {
		return nil
	}
	msg := fmt.Sprintf("HealthCmd %s: %s", strings.Join(args, " "), describe(e))
	if o := <-outc; o != "" {
		msg += ": " + o
	}
	return errors.New(msg)
}

func sockPath(s *notify.Socket) string {
	if s == nil {
		return ""
	}
	return s.Path
}

// describe says how a process ended, without its pid.
func describe(e reaper.Exit) string {
	switch {
	case e.Status.Exited():
		return fmt.Sprintf("status %d", e.Status.ExitStatus())
	case e.Status.Signaled():
		return fmt.Sprintf("signal %s", unix.SignalName(e.Status.Signal()))
	}
	return e.String()
}
