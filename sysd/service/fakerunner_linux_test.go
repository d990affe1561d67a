package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/cgroup"
	"berth.dev/berth/sysd/logs"
	"berth.dev/berth/sysd/notify"
)

// The supervisor's state machine over a fake runner: no root, no
// containers, every event asserted exactly (as Talos's system tests do).

// fakeRunner hands out fakeProcs and lets the test drive them.
type fakeRunner struct {
	mu      sync.Mutex
	nextPid int
	procs   map[string][]*fakeProc
	failing map[string]error // Start fails with this
	started chan *fakeProc
}

func (f *fakeRunner) Start(ctx context.Context, in Instance) (Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failing[in.Name]; err != nil {
		return nil, err
	}
	f.nextPid++
	p := &fakeProc{in: in, pid: 1000 + f.nextPid, done: make(chan struct{}), checks: make(chan error, 16)}
	if in.Notify {
		p.notes = make(chan notify.Message, 16)
	}
	f.procs[in.Name] = append(f.procs[in.Name], p)
	select {
	case f.started <- p:
	default:
	}
	return p, nil
}

// last is the newest instance of a service, once it has one.
func (f *fakeRunner) last(t *testing.T, name string) *fakeProc {
	t.Helper()
	ps := f.wait(t, name, 1)
	return ps[len(ps)-1]
}

// nth is the service's n-th instance (from 1), once it has been started.
func (f *fakeRunner) nth(t *testing.T, name string, n int) *fakeProc {
	t.Helper()
	return f.wait(t, name, n)[n-1]
}

// wait returns the service's instances once it has at least n.
func (f *fakeRunner) wait(t *testing.T, name string, n int) []*fakeProc {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		ps := f.procs[name]
		f.mu.Unlock()
		if len(ps) >= n {
			return ps
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was started %d times, not %d", name, len(ps), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// fakeProc is a service "running": it ends when the test says, or when
// it is stopped.
type fakeProc struct {
	in     Instance
	pid    int
	notes  chan notify.Message
	checks chan error // the health check's next answers
	mu     sync.Mutex
	once   sync.Once
	err    error
	done   chan struct{}
	stops  []time.Duration
	asked  atomic.Int32 // health checks begun
}

func (p *fakeProc) Pid() int                     { return p.pid }
func (p *fakeProc) Done() <-chan struct{}        { return p.done }
func (p *fakeProc) Err() error                   { return p.err }
func (p *fakeProc) Notes() <-chan notify.Message { return p.notes }
func (p *fakeProc) Usage() *cgroup.Usage         { return &cgroup.Usage{Tasks: 1} }

func (p *fakeProc) exit(err error) {
	p.once.Do(func() { p.err = err; close(p.done) })
}

func (p *fakeProc) Stop(grace time.Duration) {
	p.mu.Lock()
	p.stops = append(p.stops, grace)
	p.mu.Unlock()
	p.exit(nil)
}

func (p *fakeProc) Check(ctx context.Context) error {
	p.asked.Add(1)
	select {
	case err := <-p.checks:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *fakeProc) stopGraces() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.stops...)
}

// fakeManager loads units into a manager whose runner is fake.
func fakeManager(t *testing.T, units map[string]string) (*Manager, *fakeRunner) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range units {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := &fakeRunner{procs: map[string][]*fakeProc{}, failing: map[string]error{}, started: make(chan *fakeProc, 64)}
	m := New(Config{Dirs: []string{dir}, DisabledFile: filepath.Join(t.TempDir(), "disabled"), Runner: f,
		Logs: map[string]*logs.Log{"sysd": logs.New("", 100, 0)}})
	if err := m.Load(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.StopAll)
	return m, f
}

// history is a service's events as "state" or "state: msg".
func history(t *testing.T, m *Manager, name string) []string {
	t.Helper()
	st, err := m.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range st.Events {
		out = append(out, e.String())
	}
	return out
}

// waitHistory polls until the history is exactly want.
func waitHistory(t *testing.T, m *Manager, name string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := history(t, m, name)
		if strings.Join(got, "\n") == strings.Join(want, "\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s history:\n got %q\nwant %q", name, got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func running(p *fakeProc) string { return fmt.Sprintf("running: pid %d", p.pid) }

const fakeSvc = "[Service]\nTimeoutStopSec=7s\n[Container]\nImage=fake\n"

func TestFakeDependenciesReadinessAndStop(t *testing.T) {
	m, f := fakeManager(t, map[string]string{
		"db.service":  "[Service]\nType=notify\n" + fakeSvc + "Exec=db\n",
		"app.service": "[Unit]\nRequires=db.service\nAfter=db.service\n" + fakeSvc + "Exec=app\n",
	})
	m.StartAll()
	waitHistory(t, m, "app", "inactive", "waiting: waiting for db.service to be up")
	db := f.last(t, "db.service")
	waitHistory(t, m, "db", "inactive", "starting", "running: pid 1001")
	db.notes <- notify.Message{Ready: true, Status: "serving"}
	waitHistory(t, m, "db", "inactive", "starting", "running: pid 1001", "up")
	waitHistory(t, m, "app", "inactive", "waiting: waiting for db.service to be up", "starting", "running: pid 1002", "up")
	if st, _ := m.Get("db"); st.Status != "serving" || !st.Ready || st.Usage == nil || st.Usage.Tasks != 1 {
		t.Errorf("db status: %+v", st)
	}
	app := f.last(t, "app.service")
	m.StopAll()
	waitHistory(t, m, "app", "inactive", "waiting: waiting for db.service to be up", "starting", "running: pid 1002", "up", "stopping", "stopped")
	waitHistory(t, m, "db", "inactive", "starting", "running: pid 1001", "up", "stopping", "stopped")
	if g := app.stopGraces(); len(g) != 1 || g[0] != 7*time.Second {
		t.Errorf("app stopped with graces %v, want [7s] (TimeoutStopSec)", g)
	}
}

func TestFakeRestartThenStartLimit(t *testing.T) {
	m, f := fakeManager(t, map[string]string{
		"crash.service": "[Unit]\nStartLimitBurst=2\nStartLimitIntervalSec=1h\n[Service]\nRestart=on-failure\nRestartSec=1ms\n" + fakeSvc + "Exec=crash\n",
	})
	m.StartAll()
	f.last(t, "crash.service").exit(errors.New("status 3"))
	f.nth(t, "crash.service", 2).exit(errors.New("signal SIGKILL"))
	waitHistory(t, m, "crash", "inactive",
		"starting", "running: pid 1001", "up", "exited: status 3", "backoff: restarting in 1ms",
		"starting", "running: pid 1002", "up", "exited: signal SIGKILL", "backoff: restarting in 2ms",
		"failed: 2 starts within 1h0m0s: giving up (StartLimitBurst=2, StartLimitIntervalSec=1h0m0s)")
	if st, _ := m.Get("crash"); st.State != wire.Failed || st.Starts != 2 || st.Pid != 0 {
		t.Errorf("after the crash loop: %+v", st)
	}
}

func TestFakeCleanExitAndRestartNo(t *testing.T) {
	m, f := fakeManager(t, map[string]string{
		"once.service":  "[Service]\nType=oneshot\n" + fakeSvc + "Exec=once\n",
		"bad.service":   fakeSvc + "Exec=bad\n",
		"after.service": "[Unit]\nRequires=bad.service\nAfter=bad.service\n" + fakeSvc + "Exec=after\n",
	})
	m.StartAll()
	once := f.last(t, "once.service")
	once.exit(nil)
	waitHistory(t, m, "once", "inactive", "starting", running(once), "up", "exited: status 0", "finished")
	bad := f.last(t, "bad.service")
	after := f.last(t, "after.service")
	waitHistory(t, m, "after", "inactive", "waiting: waiting for bad.service to be up", "starting", running(after), "up")
	bad.exit(errors.New("status 1"))
	waitHistory(t, m, "bad", "inactive", "starting", running(bad), "up", "exited: status 1", "failed: Restart=no: not restarted")
}

func TestFakeHealthCheck(t *testing.T) {
	m, f := fakeManager(t, map[string]string{
		"web.service": fakeSvc + "Exec=web\nHealthCmd=check\nHealthInterval=100ms\nHealthRetries=2\n",
	})
	m.StartAll()
	p := f.last(t, "web.service")
	waitHistory(t, m, "web", "inactive", "starting", "running: pid 1001")
	if st, _ := m.Get("web"); st.Health != wire.HealthStarting || st.Up {
		t.Fatalf("before its first check: %+v", st)
	}
	p.checks <- nil
	waitHistory(t, m, "web", "inactive", "starting", "running: pid 1001", "up")
	p.checks <- errors.New("HealthCmd check: status 1")
	p.checks <- errors.New("HealthCmd check: status 1")
	waitHistory(t, m, "web", "inactive", "starting", "running: pid 1001", "up", "unhealthy: HealthCmd check: status 1")
	if st, _ := m.Get("web"); st.Health != wire.HealthFailing || st.HealthError != "HealthCmd check: status 1" {
		t.Fatalf("after two failures: %+v", st)
	}
	p.checks <- nil
	waitHistory(t, m, "web", "inactive", "starting", "running: pid 1001", "up", "unhealthy: HealthCmd check: status 1", "up")
}

func TestFakeHealthCheckWaitsForReady(t *testing.T) {
	m, f := fakeManager(t, map[string]string{
		"d.service": "[Service]\nType=notify\n" + fakeSvc + "Exec=d\nHealthCmd=check\nHealthStartPeriod=1m\nHealthStartInterval=100ms\n",
	})
	m.StartAll()
	p := f.last(t, "d.service")
	waitHistory(t, m, "d", "inactive", "starting", running(p))
	time.Sleep(300 * time.Millisecond) // three start intervals
	if n := p.asked.Load(); n != 0 {
		t.Fatalf("%d health checks before READY=1, want none", n)
	}
	p.notes <- notify.Message{Ready: true}
	p.checks <- errors.New("HealthCmd check: status 1") // in the start period: not counted
	p.checks <- nil
	waitHistory(t, m, "d", "inactive", "starting", running(p), "up")
	if n := p.asked.Load(); n < 2 {
		t.Fatalf("%d health checks after READY=1, want the failed one and the passing one", n)
	}
}

func TestFakeWatchdogAndStartTimeout(t *testing.T) {
	m, f := fakeManager(t, map[string]string{
		"wd.service":   "[Service]\nType=notify\nWatchdogSec=50ms\n" + fakeSvc + "Exec=wd\n",
		"slow.service": "[Service]\nType=notify\nTimeoutStartSec=50ms\n" + fakeSvc + "Exec=slow\n",
	})
	m.StartAll()
	wd, slow := f.last(t, "wd.service"), f.last(t, "slow.service")
	wd.notes <- notify.Message{Ready: true}
	waitHistory(t, m, "wd", "inactive", "starting", running(wd), "up",
		"watchdog: no WATCHDOG=1 within 50ms (WatchdogSec): killing",
		"exited: watchdog timeout: no WATCHDOG=1 within 50ms", "failed: Restart=no: not restarted")
	waitHistory(t, m, "slow", "inactive", "starting", running(slow),
		"exited: no READY=1 within 50ms (TimeoutStartSec)", "failed: Restart=no: not restarted")
	for _, name := range []string{"wd.service", "slow.service"} {
		if g := f.last(t, name).stopGraces(); len(g) != 1 || g[0] != 0 {
			t.Errorf("%s: stopped with graces %v, want [0]: killed at once", name, g)
		}
	}
}

func TestFakeRunnerFailsToStart(t *testing.T) {
	m, f := fakeManager(t, map[string]string{"img.service": fakeSvc + "Exec=x\n"})
	f.failing["img.service"] = fmt.Errorf("image fake: no such image")
	m.StartAll()
	waitHistory(t, m, "img", "inactive", "starting", "exited: image fake: no such image", "failed: Restart=no: not restarted")
}
