package sysd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/atomicfile"
	"berth.dev/berth/internal/kmod"
	"berth.dev/berth/internal/reaper"
	"berth.dev/berth/sysd/cgroup"
	"berth.dev/berth/sysd/container"
	"berth.dev/berth/sysd/logs"
	"berth.dev/berth/sysd/service"
	"berth.dev/berth/sysd/userdata"
)

const (
	userdataDir   = "/var/lib/berth/userdata"
	effectivePath = userdataDir + "/effective.json"
)

// Effective is the user-data in force, kept on STATE for `os-ctl config
// show` and served by the API.
type Effective struct {
	Source      string                `json:"source"` // the datasource, or "none"
	InstanceID  string                `json:"instance_id,omitempty"`
	Config      *userdata.Config      `json:"config"`
	Diagnostics []userdata.Diagnostic `json:"diagnostics,omitempty"`
	Errors      []string              `json:"errors,omitempty"` // applying it
}

// localSeed tries the datasources that need no network, in the documented
// order: NoCloud (a CIDATA volume), then, unless the kernel command line
// names a URL (which comes before it), QEMU's fw_cfg.
func localSeed(l interface{ Printf(string, ...any) }, fwcfg bool) *userdata.Seed {
	if s := noCloud(l); s != nil {
		return s
	}
	if !fwcfg {
		return nil
	}
	// fw_cfg exists only under QEMU; its ports are touched only there.
	if vendor, _ := os.ReadFile("/sys/class/dmi/id/sys_vendor"); strings.TrimSpace(string(vendor)) != "QEMU" {
		return nil
	}
	files, err := userdata.FwCfgPorts(fwCfgUserData, fwCfgMetaData)
	if err != nil {
		// No port access (another architecture, a locked-down kernel):
		// the module's sysfs files, at the cost of loading it.
		if _, err := os.Stat("/sys/firmware/qemu_fw_cfg"); err != nil {
			for _, err := range kmod.LoadAll([]string{"qemu_fw_cfg"}) {
				l.Printf("user-data: load qemu_fw_cfg: %v", err)
			}
		}
		return userdata.FwCfg("/sys/firmware/qemu_fw_cfg")
	}
	if ud, ok := files[fwCfgUserData]; ok {
		return &userdata.Seed{Source: "fw_cfg", UserData: ud, MetaData: files[fwCfgMetaData]}
	}
	return nil
}

// The fw_cfg files Berth reads (-fw_cfg name=opt/berth/user-data,file=…).
const (
	fwCfgUserData = "opt/berth/user-data"
	fwCfgMetaData = "opt/berth/meta-data"
)

func noCloud(l interface{ Printf(string, ...any) }) *userdata.Seed {
	load := func(mod string) {
		for _, err := range kmod.LoadAll([]string{mod}) {
			l.Printf("user-data: load %s: %v", mod, err)
		}
	}
	s, err := userdata.FindNoCloud("/run/berth/seed", load)
	if err != nil {
		l.Printf("user-data: %v", err)
	}
	return s
}

// laterNoCloud looks for a CIDATA volume again once PID 1 has loaded the
// root's modules (a CD-ROM appears only with sr_mod): the first search
// does not wait for them, so that a machine without user-data boots at
// full speed.
func laterNoCloud(ctx context.Context, l interface{ Printf(string, ...any) }) *userdata.Seed {
	if _, err := os.Stat(kmod.DoneFile); err == nil {
		return nil // every device was there for the first search
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(kmod.DoneFile); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
	return noCloud(l)
}

// applyUserData parses the seed, reports every problem on the console,
// applies what is valid before services start, and returns what runs
// after them (runcmd, scripts) and the effective configuration.
func applyUserData(l interface{ Printf(string, ...any) }, seed *userdata.Seed, run func(name, script string) error) (*Effective, func()) {
	eff := &Effective{Source: "none", Config: &userdata.Config{}}
	if seed == nil {
		writeEffective(l, eff)
		return eff, func() {}
	}
	c, md, ds := userdata.Load(seed)
	eff.Source, eff.InstanceID, eff.Config, eff.Diagnostics = seed.Source, md.InstanceID, c, ds
	l.Printf("user-data: from %s, instance %s", seed.Source, md.InstanceID)
	for _, d := range ds {
		l.Printf("user-data: %s", d)
	}
	a := &userdata.Applier{Root: "/", StateDir: userdataDir, Run: run, Logf: l.Printf,
		SetHostname: func(n string) error { return unix.Sethostname([]byte(n)) },
		LoadModules: func(names []string) {
			for _, err := range kmod.LoadAll(names) {
				l.Printf("user-data: berth.modules: %v", err)
			}
		}}
	var mu sync.Mutex
	report := func(errs []error) {
		mu.Lock()
		defer mu.Unlock()
		for _, err := range errs {
			l.Printf("user-data: %v", err)
			eff.Errors = append(eff.Errors, err.Error())
		}
		writeEffective(l, eff)
	}
	report(a.Early(c))
	return eff, func() { report(a.Late(c, md)) }
}

func writeEffective(l interface{ Printf(string, ...any) }, eff *Effective) {
	b, _ := json.MarshalIndent(eff, "", "  ")
	os.MkdirAll(userdataDir, 0o700)
	if err := atomicfile.Write(effectivePath, append(b, '\n'), 0o600); err != nil {
		l.Printf("user-data: %v", err)
	}
}

// adminRunner runs user-data's commands as root in the admin's view of
// the machine: a privileged container of the console image sharing the
// host's PID, network and UTS namespaces, with the host's /etc, /var,
// /home, /root and the sysd API, and os-ctl.
type adminRunner struct {
	m      *service.Manager
	r      *reaper.Reaper
	tree   cgroup.Tree
	log    *logs.Log
	helper string
	mu     sync.Mutex
	n      int
}

func (a *adminRunner) Run(name, script string) error {
	a.mu.Lock()
	a.n++
	n := a.n
	a.mu.Unlock()
	// The console's image is the admin's shell; the toolbox is the
	// fallback of an image built without it.
	root, err := a.m.Image("console")
	if err != nil {
		if root, err = a.m.Image("toolbox"); err != nil {
			return err
		}
	}
	staging := fmt.Sprintf("/run/berth/containers/userdata-%d", n)
	os.MkdirAll(staging, 0o700)
	defer os.Remove(staging)
	host, _ := os.Hostname()
	spec := container.Spec{Name: "user-data", Hostname: host, Root: root, Staging: staging,
		Args: []string{"/bin/sh", "-c", script}, Env: []string{"HOME=/root"}, Network: "host", PIDHost: true, UTSHost: true,
		Privileged: true, Helper: a.helper}
	for _, d := range []string{"/etc", "/var", "/home", "/root", "/run/berth"} {
		spec.Mounts = append(spec.Mounts, container.Mount{Source: d, Target: d, Type: "rbind"})
	}
	spec.Mounts = append(spec.Mounts, container.Mount{Source: "/usr/lib/berth/sysd", Target: "/usr/bin/os-ctl", Type: "bind", ReadOnly: true})
	g, err := a.tree.Create(fmt.Sprintf("user-data-%d", n), cgroup.Limits{})
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
	a.log.Printf("%s: %s", name, script)
	done := make(chan struct{})
	go func() {
		io.Copy(a.log, pr)
		pr.Close()
		close(done)
	}()
	p, err := container.Start(a.r, spec, cgf, container.Stdio{nil, pw, pw})
	pw.Close()
	if err != nil {
		if p != nil {
			<-p.Exit
		}
		<-done
		return err
	}
	e := <-p.Exit
	g.KillWait(5e9)
	<-done
	if !e.Status.Exited() || e.Status.ExitStatus() != 0 {
		a.log.Printf("%s: %s", name, strings.TrimPrefix(e.String(), fmt.Sprintf("pid %d ", e.Pid)))
		return fmt.Errorf("%s", strings.TrimPrefix(e.String(), fmt.Sprintf("pid %d ", e.Pid)))
	}
	return nil
}
