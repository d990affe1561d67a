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

	"berth.dev/berth/internal/nofollow"
	"berth.dev/berth/internal/reaper"
	"berth.dev/berth/sysd/cgroup"
	"berth.dev/berth/sysd/container"
	"berth.dev/berth/sysd/notify"
	"berth.dev/berth/sysd/unit"
)

// ContainerRunner runs each service in a system container of its own, in
// its own cgroup: the Runner sysd uses.
type ContainerRunner struct {
	Image   func(name string) (string, error) // the root file system Image= names
	RunDir  string                            // staging roots and notify sockets
	Cgroups cgroup.Tree
	Reaper  *reaper.Reaper
	Helper  string // the container's first process; empty: this binary
}

// Start creates the service's cgroup, notify socket and container.
func (r *ContainerRunner) Start(ctx context.Context, in Instance) (Process, error) {
	u := in.Def.Unit
	short := strings.TrimSuffix(in.Name, ".service")
	root, err := r.Image(u.Container.Image)
	if err != nil {
		return nil, err
	}
	staging := filepath.Join(r.RunDir, "containers", short)
	if err := os.MkdirAll(staging, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", staging, err)
	}
	cg, err := r.Cgroups.Create(in.Name, cgroup.Limits{
		MemoryMax: u.Service.MemoryMax, CPUWeight: u.Service.CPUWeight,
		IOWeight: u.Service.IOWeight, TasksMax: u.Service.TasksMax})
	if err != nil {
		return nil, err
	}
	cgf, err := cg.Open()
	if err != nil {
		return nil, err
	}
	// The cgroup's descriptor is for clone(CLONE_INTO_CGROUP) only; each
	// health check opens its own.
	defer cgf.Close()
	p := &containerProcess{r: r, in: in, cg: cg, exited: make(chan struct{}), cleaned: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			p.release()
		}
	}()
	p.oomBefore = cg.Usage().OOMKills

	for _, v := range u.Container.Volumes {
		// Like docker run -v: a missing host directory is created (on
		// STATE for persistent data), following only root's links.
		if _, err := os.Lstat(v.Src); errors.Is(err, os.ErrNotExist) {
			if err := makeVolumeDir(v.Src); err != nil {
				return nil, fmt.Errorf("Volume=%s: %w", v.Src, err)
			}
		}
	}
	if in.Notify {
		dir := filepath.Join(r.RunDir, "notify")
		os.MkdirAll(dir, 0o755)
		if p.sock, err = notify.Listen(filepath.Join(dir, short+".sock")); err != nil {
			return nil, err
		}
	}
	if p.spec, err = Spec(u, root, staging, sockPath(p.sock)); err != nil {
		return nil, err
	}
	p.spec.Helper = r.Helper

	stdio, closeChild, err := openStdio(in.Name, u.Service.TTYPath, in.Log)
	if err != nil {
		return nil, err
	}
	cp, err := container.Start(r.Reaper, p.spec, cgf, stdio)
	closeChild()
	if err != nil {
		if cp != nil {
			<-cp.Exit
		}
		cg.Kill()
		return nil, err
	}
	p.p = cp
	if p.sock != nil {
		p.notes = make(chan notify.Message, 16)
		go func() {
			for {
				msg, err := p.sock.Read()
				if err != nil {
					return
				}
				select {
				case p.notes <- msg:
				case <-p.exited:
					return
				}
			}
		}()
	}
	ok = true
	go p.wait()
	return p, nil
}

// containerProcess is a service's running container.
type containerProcess struct {
	r         *ContainerRunner
	in        Instance
	cg        *cgroup.Group
	sock      *notify.Socket
	spec      container.Spec
	p         *container.Process
	oomBefore int64
	notes     chan notify.Message
	exit      reaper.Exit
	exited    chan struct{} // the main process has ended: exit is set
	err       error
	cleaned   chan struct{} // and so has everything it left: err is set
}

// wait collects the main process, then whatever it left behind.
func (p *containerProcess) wait() {
	e := <-p.p.Exit
	p.exit = e
	close(p.exited)
	p.cg.KillWait(5 * time.Second)
	u := p.in.Def.Unit
	switch {
	case p.cg.Usage().OOMKills > p.oomBefore:
		p.err = fmt.Errorf("%s; killed by the OOM killer (MemoryMax=%s)", describe(e), unit.FormatBytes(u.Service.MemoryMax))
	case e.Status.Exited() && e.Status.ExitStatus() == 0:
	default:
		p.err = errors.New(describe(e))
	}
	p.release()
	close(p.cleaned)
}

func (p *containerProcess) release() {
	if p.sock != nil {
		p.sock.Close()
	}
}

func (p *containerProcess) Pid() int              { return p.p.Pid }
func (p *containerProcess) Done() <-chan struct{} { return p.exited }

func (p *containerProcess) Err() error {
	<-p.cleaned
	return p.err
}
func (p *containerProcess) Notes() <-chan notify.Message { return p.notes }

func (p *containerProcess) Usage() *cgroup.Usage {
	u := p.cg.Usage()
	return &u
}

// Stop sends SIGTERM to the main process, waits up to grace, then kills
// the whole cgroup, and returns once everything of the service is gone.
func (p *containerProcess) Stop(grace time.Duration) {
	if grace > 0 {
		select {
		case <-p.exited: // reaped: its pid may be another process's now
		default:
			signal(p.p.Pid, unix.SIGTERM)
		}
		select {
		case <-p.exited:
			<-p.cleaned
			p.in.Logf("%s: stopped (%s)", p.in.Name, describe(p.exit))
			return
		case <-time.After(grace):
			p.in.Logf("%s: still running %v after SIGTERM (TimeoutStopSec): killing its cgroup", p.in.Name, grace)
		}
	}
	p.cg.Kill() // wait's KillWait waits for it
	<-p.cleaned
}

// Check runs HealthCmd inside the container: its namespaces, its cgroup
// (the delegated leaf when the service manages its own children).
func (p *containerProcess) Check(ctx context.Context) error {
	c := p.in.Def.Unit.Container
	g := p.cg
	if p.in.Def.Unit.Service.Delegate {
		// The service's own group holds child groups only.
		g = &cgroup.Group{Dir: filepath.Join(p.cg.Dir, container.DelegateLeaf)}
	}
	cg, err := g.Open()
	if err != nil {
		return fmt.Errorf("HealthCmd: %w", err)
	}
	defer cg.Close()
	return healthOnce(ctx, p.r.Reaper, p.p.Pid, p.spec, cg, c.HealthCmd, c.HealthTimeout)
}

// makeVolumeDir creates the missing directory p on the host.
func makeVolumeDir(p string) error {
	resolved, err := nofollow.ResolveRootLinks(p)
	if err != nil {
		return err
	}
	d, err := nofollow.Dir("/", resolved, true, 0o755, nofollow.Root)
	if err != nil {
		return err
	}
	return d.Close()
}

func healthOnce(ctx context.Context, r *reaper.Reaper, pid int, spec container.Spec, cg *os.File, args []string, timeout time.Duration) error {
	rd, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer rd.Close()
	p, err := container.Exec(r, pid, spec, args, cg, container.Stdio{nil, w, w})
	w.Close()
	if err != nil {
		if p != nil {
			<-p.Exit
		}
		return fmt.Errorf("HealthCmd: %w", err)
	}
	outc := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(rd, 512))
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
	// A process the check left behind (sh -c 'x &') may hold the pipe
	// open for ever: take what has come within a moment.
	rd.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	msg := fmt.Sprintf("HealthCmd %s: %s", strings.Join(args, " "), describe(e))
	if o := <-outc; o != "" {
		msg += ": " + o
	}
	return errors.New(msg)
}

// signal sends sig to one process, never to a group: a pid of 0 or -1
// would reach sysd's group or every process.
func signal(pid int, sig unix.Signal) {
	if pid > 1 {
		unix.Kill(pid, sig)
	}
}

// openStdio returns the container's fds 0-2: the unit's terminal, or a
// pipe into the service's log; closeChild closes sysd's copy of the
// child's end.
func openStdio(name, tty string, log io.Writer) (container.Stdio, func(), error) {
	if tty != "" {
		f, err := os.OpenFile(tty, os.O_RDWR|unix.O_NOCTTY, 0)
		if err != nil {
			return container.Stdio{}, nil, fmt.Errorf("TTYPath=%s: %w", tty, err)
		}
		return container.Stdio{f, f, f}, func() { f.Close() }, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return container.Stdio{}, nil, fmt.Errorf("log pipe for %s: %w", name, err)
	}
	go func() {
		io.Copy(log, r)
		r.Close()
	}()
	return container.Stdio{nil, w, w}, func() { w.Close() }, nil
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
