package service

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/reaper"
	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/cgroup"
	"berth.dev/berth/sysd/container"
	"berth.dev/berth/sysd/logs"
)

func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == container.InitName {
		container.Init()
	}
	os.Exit(m.Run())
}

// cgroup2Mount finds where cgroup v2 is mounted on this host (the
// unified hierarchy of a hybrid host has no controllers, which is enough
// for placement and cgroup.kill).
func cgroup2Mount(t *testing.T) string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		for i, x := range fs {
			if x == "-" && i+1 < len(fs) && fs[i+1] == "cgroup2" {
				return fs[4]
			}
		}
	}
	t.Skip("no cgroup2 mounted on this host")
	return ""
}

// newManager makes a manager over units written into a temp directory,
// using the host's root file system as the image.
func newManager(t *testing.T, units map[string]string) *Manager {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs containers")
	}
	dir := t.TempDir()
	for name, body := range units {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := reaper.New()
	ctx, cancel := context.WithCancel(context.Background())
	go r.Run(ctx)
	tree := cgroup.Tree{Dir: filepath.Join(cgroup2Mount(t), fmt.Sprintf("berth-test-%d", os.Getpid()))}
	if _, err := tree.Init(); err != nil {
		t.Logf("cgroup: %v", err)
	}
	m := New(Config{
		Dirs: []string{dir}, DisabledFile: filepath.Join(t.TempDir(), "disabled"),
		RunDir: t.TempDir(), Cgroups: tree, Reaper: r, Cmdline: "quiet berth.test=1",
		Logs: map[string]*logs.Log{"sysd": logs.New("", 100, 0)},
	})
	if err := m.Load(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.StopAll()
		cancel()
		ents, _ := os.ReadDir(tree.Dir)
		for _, e := range ents {
			if e.IsDir() {
				(&cgroup.Group{Dir: filepath.Join(tree.Dir, e.Name())}).Remove(5 * time.Second)
			}
		}
		os.Remove(tree.Dir)
	})
	return m
}

func states(t *testing.T, m *Manager, name string) string {
	st, err := m.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range st.Events {
		out = append(out, string(e.State))
		if e.State == "exited" && testing.Verbose() {
			t.Logf("%s: %s", name, e)
		}
	}
	return strings.Join(out, " ")
}

// waitState polls (no sleeps as assertions) until the service is in state.
func waitState(t *testing.T, m *Manager, name string, state wire.State) wire.Service {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ := m.Get(name)
		if st.State == state {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: state %q, want %q; events: %s; reason %q", name, st.State, state, states(t, m, name), st.Reason)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hostSvc ends a unit: the host's root as image, a short stop timeout
// (sh as PID 1 ignores SIGTERM), and the [Container] section open.
const hostSvc = "[Service]\nTimeoutStopSec=1s\n[Container]\nImage=host\nNetwork=none\n"

func TestOrderReadinessAndStop(t *testing.T) {
	m := newManager(t, map[string]string{
		"db.service": "[Service]\nType=notify\n" + hostSvc +
			"Exec=sh -c 'sleep 0.3; systemd-notify --ready --status=serving; exec sleep 1000'\n",
		"app.service":   "[Unit]\nRequires=db.service\nAfter=db.service\n" + hostSvc + "Exec=sleep 1000\n",
		"other.service": hostSvc + "Exec=sleep 1000\n",
	})
	m.StartAll()
	st := waitState(t, m, "app", "waiting")
	if st.Waiting != "waiting for db.service to be up" {
		t.Errorf("waiting = %q", st.Waiting)
	}
	waitState(t, m, "other", wire.Up) // independent: does not wait for db
	db := waitState(t, m, "db", wire.Up)
	if db.Status != "serving" || !db.Ready {
		t.Errorf("db: status %q ready %v", db.Status, db.Ready)
	}
	waitState(t, m, "app", wire.Up)
	m.StopAll()
	if got, want := states(t, m, "db"), "inactive starting running up stopping stopped"; got != want {
		t.Errorf("db events:\n got %s\nwant %s", got, want)
	}
	if got, want := states(t, m, "app"), "inactive waiting starting running up stopping stopped"; got != want {
		t.Errorf("app events:\n got %s\nwant %s", got, want)
	}
	a, _ := m.Get("app")
	d, _ := m.Get("db")
	if !lastTime(a).Before(lastTime(d)) {
		t.Errorf("app stopped at %v, after db at %v: not reverse order", lastTime(a), lastTime(d))
	}
}

func lastTime(s wire.Service) time.Time { return s.Events[len(s.Events)-1].Time }

func TestCrashLoopFailsAndOthersStayUp(t *testing.T) {
	m := newManager(t, map[string]string{
		"crash.service":  "[Unit]\nStartLimitBurst=3\nStartLimitIntervalSec=10s\n[Service]\nRestart=always\nRestartSec=10ms\n" + hostSvc + "Exec=sh -c 'echo crashing; exit 3'\n",
		"steady.service": hostSvc + "Exec=sleep 1000\n",
	})
	m.StartAll()
	st := waitState(t, m, "crash", "failed")
	want := "inactive starting running up exited backoff starting running up exited backoff starting running up exited backoff failed"
	if got := states(t, m, "crash"); got != want {
		t.Errorf("crash events:\n got %s\nwant %s", got, want)
	}
	if !strings.Contains(st.Reason, "3 starts within 10s") {
		t.Errorf("reason = %q", st.Reason)
	}
	ev := st.Events[4]
	if ev.Msg != "status 3" {
		t.Errorf("exit event = %v", ev)
	}
	// steady comes up in its own time (a container start under load can
	// take longer than the whole crash loop), and stays up through it.
	steady := waitState(t, m, "steady", wire.Up)
	if got := states(t, m, "steady"); got != "inactive starting running up" {
		t.Errorf("steady events: %s", got)
	}
	if s, _ := m.Get("steady"); s.State != wire.Up || s.Pid != steady.Pid {
		t.Errorf("steady is %s, pid %d (was %d)", s.State, s.Pid, steady.Pid)
	}
	l, _ := m.Log("crash")
	if tail := l.Tail(0); len(tail) != 3 || tail[0].Text != "crashing" {
		t.Errorf("log = %v", tail)
	}
}

func TestRestartAfterKill(t *testing.T) {
	m := newManager(t, map[string]string{
		"k.service": "[Service]\nRestart=on-failure\nRestartSec=10ms\n" + hostSvc + "Exec=sleep 1000\n",
	})
	m.StartAll()
	st := waitState(t, m, "k", wire.Up)
	if err := unixKill(st.Pid); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, _ := m.Get("k")
		if s.State == wire.Up && s.Pid != st.Pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not restarted: %s", states(t, m, "k"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	s, _ := m.Get("k")
	if got := s.Events[4]; got.State != "exited" || got.Msg != "signal SIGKILL" {
		t.Errorf("event after kill = %v", got)
	}
}

func TestInvalidUnitsAreReportedAndSkipped(t *testing.T) {
	m := newManager(t, map[string]string{
		"typo.service":  "[Service]\nRestrt=always\n" + hostSvc + "Exec=true\n",
		"c1.service":    "[Unit]\nAfter=c2.service\n" + hostSvc + "Exec=true\n",
		"c2.service":    "[Unit]\nAfter=c1.service\n" + hostSvc + "Exec=true\n",
		"needs.service": "[Unit]\nRequires=typo.service\n" + hostSvc + "Exec=true\n",
		"cond.service":  "[Unit]\nConditionKernelCommandLine=berth.debug_shell\n" + hostSvc + "Exec=true\n",
		"ok.service":    "[Service]\nType=oneshot\n" + hostSvc + "Exec=true\n",
		"path.service":  "[Unit]\nConditionPathExists=/nonexistent/berth\n" + hostSvc + "Exec=true\n",
		"npath.service": "[Unit]\nConditionPathExists=!/\n" + hostSvc + "Exec=true\n",
		"yes.service":   "[Unit]\nConditionPathExists=/\nConditionPathExists=!/nonexistent\n[Service]\nType=oneshot\n" + hostSvc + "Exec=true\n",
	})
	m.StartAll()
	waitState(t, m, "ok", "finished")
	waitState(t, m, "yes", "finished")
	for name, want := range map[string]string{
		"typo":  "typo.service:2: [Service] Restrt: unknown key (did you mean Restart?)",
		"c1":    "ordering cycle: c1.service → c2.service → c1.service",
		"needs": "needs.service requires typo.service, which is not valid",
		"cond":  "ConditionKernelCommandLine=berth.debug_shell does not hold",
		"path":  "ConditionPathExists=/nonexistent/berth does not hold",
		"npath": "ConditionPathExists=!/ does not hold",
	} {
		s, _ := m.Get(name)
		if !strings.Contains(s.Reason, want) || s.Pid != 0 {
			t.Errorf("%s: state %s reason %q, want %q", name, s.State, s.Reason, want)
		}
	}
}

func TestHealthCheckRunsInsideTheContainer(t *testing.T) {
	m := newManager(t, map[string]string{
		// The check looks for a file only the service's own /tmp has.
		"h.service": hostSvc + "Exec=sh -c 'sleep 0.5; touch /tmp/ok; exec sleep 1000'\nHealthCmd=test -e /tmp/ok\nHealthInterval=100ms\nHealthRetries=1\n",
		"w.service": "[Unit]\nAfter=h.service\n" + hostSvc + "Exec=sleep 1000\n",
	})
	m.StartAll()
	st := waitState(t, m, "h", wire.Up)
	if st.Health != "healthy" {
		t.Errorf("health = %q", st.Health)
	}
	waitState(t, m, "w", wire.Up)
	if _, err := os.Stat("/tmp/ok"); err == nil {
		t.Errorf("the health check ran in the host's /tmp")
	}
}

func TestWatchdogKillsASilentService(t *testing.T) {
	m := newManager(t, map[string]string{
		"wd.service": "[Service]\nType=notify\nWatchdogSec=300ms\nRestart=no\n" + hostSvc +
			"Exec=sh -c 'systemd-notify --ready; exec sleep 1000'\n",
	})
	m.StartAll()
	st := waitState(t, m, "wd", "failed")
	if got := states(t, m, "wd"); got != "inactive starting running up watchdog exited failed" {
		t.Errorf("events: %s", got)
	}
	if !strings.Contains(st.Events[5].Msg, "watchdog timeout") {
		t.Errorf("exit = %v", st.Events[5])
	}
}

// waitTarget is a target that holds until released.
type waitTarget chan struct{}

func (w waitTarget) String() string { return "waiting for the network to be online" }
func (w waitTarget) Wait(ctx context.Context) error {
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestTargetsHoldServicesOrderedAfterThem(t *testing.T) {
	m := newManager(t, map[string]string{
		"net.service": "[Unit]\nAfter=network-online.target\n" + hostSvc + "Exec=sleep 1000\n",
		"any.service": hostSvc + "Exec=sleep 1000\n",
	})
	online := make(waitTarget)
	m.cfg.Targets = map[string]Condition{"network-online.target": online}
	m.StartAll()
	waitState(t, m, "any", wire.Up)
	if st := waitState(t, m, "net", wire.Waiting); st.Waiting != "waiting for the network to be online" {
		t.Errorf("waiting = %q", st.Waiting)
	}
	close(online)
	waitState(t, m, "net", wire.Up)
}

// A check that fails and leaves a process holding its output (sh -c
// 'sleep &') is reported at once with what it printed: the health loop
// used to wait for the pipe's end, that is for the grandchild (issue 15.10).
func TestHealthCheckGrandchildDoesNotStall(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates namespaces and mounts")
	}
	r := reaper.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	spec := container.Spec{Name: "hc", Hostname: "hc", Root: "/", Staging: t.TempDir(), Caps: container.DefaultCaps,
		Network: "private", Args: []string{"/bin/sleep", "60"}}
	p, err := container.Start(r, spec, nil, container.Stdio{})
	if err != nil {
		t.Fatal(err)
	}
	defer signal(p.Pid, unix.SIGKILL)
	start := time.Now()
	err = healthOnce(ctx, r, p.Pid, spec, nil, []string{"/bin/sh", "-c", "sleep 30 & echo sick; exit 1"}, 20*time.Second)
	if err == nil || !strings.Contains(err.Error(), "status 1: sick") {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the check took %v: it waited for its grandchild", d)
	}
}
