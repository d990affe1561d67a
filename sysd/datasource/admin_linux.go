package datasource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"berth.dev/berth/internal/layout"
	"berth.dev/berth/internal/reaper"
	"berth.dev/berth/sysd/cgroup"
	"berth.dev/berth/sysd/container"
	"berth.dev/berth/sysd/logs"
	"berth.dev/berth/sysd/service"
)

// AdminRunner runs user-data's commands as root in the admin's view of
// the machine: a privileged container of the console image sharing the
// host's PID, network and UTS namespaces, with the host's /etc, /var,
// /home, /root and the sysd API, and os-ctl.
type AdminRunner struct {
	Manager *service.Manager // for the console's (or the toolbox's) image
	Reaper  *reaper.Reaper
	Cgroups cgroup.Tree
	Log     *logs.Log // user-data's log: each command and its output
	Helper  string    // berth-container-init
	mu      sync.Mutex
	n       int
}

func (a *AdminRunner) Run(ctx context.Context, name, script string) error {
	a.mu.Lock()
	a.n++
	n := a.n
	a.mu.Unlock()
	// The console's image is the admin's shell; the toolbox is the
	// fallback of an image built without it.
	root, err := a.Manager.Image("console")
	if err != nil {
		if root, err = a.Manager.Image("toolbox"); err != nil {
			return err
		}
	}
	staging := fmt.Sprintf("/run/berth/containers/userdata-%d", n)
	os.MkdirAll(staging, 0o700)
	defer os.Remove(staging)
	host, _ := os.Hostname()
	spec := container.Spec{Name: "user-data", Hostname: host, Root: root, Staging: staging,
		Args: []string{"/bin/sh", "-c", script}, Env: []string{"HOME=/root"}, Network: "host", PIDHost: true, UTSHost: true,
		Privileged: true, Helper: a.Helper}
	for _, d := range []string{"/etc", "/var", "/home", "/root", "/run/berth"} {
		spec.Mounts = append(spec.Mounts, container.Mount{Source: d, Target: d, Type: "rbind"})
	}
	spec.Mounts = append(spec.Mounts, container.Mount{Source: layout.SysdPath, Target: "/usr/bin/os-ctl", Type: "bind", ReadOnly: true})
	g, err := a.Cgroups.Create(fmt.Sprintf("user-data-%d", n), cgroup.Limits{})
	if err != nil {
		return err
	}
	defer g.Remove(5e9)
	cgf, err := g.Open()
	if err != nil {
		return err
	}
	defer cgf.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	a.Log.Printf("%s: %s", name, script)
	done := make(chan struct{})
	go func() {
		io.Copy(a.Log, pr)
		pr.Close()
		close(done)
	}()
	p, err := container.Start(a.Reaper, spec, cgf, container.Stdio{nil, pw, pw})
	pw.Close()
	if err != nil {
		if p != nil {
			<-p.Exit
		}
		<-done
		return err
	}
	var e reaper.Exit
	select {
	case e = <-p.Exit:
	case <-ctx.Done():
		// The whole cgroup: what the command started goes with it.
		g.KillWait(5e9)
		e = <-p.Exit
		g.KillWait(5e9)
		<-done
		a.Log.Printf("%s: killed: no end within its time (%v)", name, ctx.Err())
		return fmt.Errorf("killed: no end within its time: %w", ctx.Err())
	}
	g.KillWait(5e9)
	<-done
	if !e.Status.Exited() || e.Status.ExitStatus() != 0 {
		how := strings.TrimPrefix(e.String(), fmt.Sprintf("pid %d ", e.Pid))
		a.Log.Printf("%s: %s", name, how)
		return errors.New(how)
	}
	return nil
}
