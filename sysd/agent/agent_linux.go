// Package agent is sysd's update agent: it mounts the ESP, runs the health
// gate on a slot on trial, checks for updates on the strategy's schedule,
// and answers the API's update requests, all through the updater of
// package update.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/blockdev"
	"berth.dev/berth/internal/kmod"
	"berth.dev/berth/internal/layout"
	"berth.dev/berth/internal/lowprio"
	"berth.dev/berth/internal/reaper"
	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/probe"
	"berth.dev/berth/sysd/userdata"
	"berth.dev/berth/update"
)

// Where the updater keeps its records and finds the ESP. The ESP is
// mounted under /run, which no system container sees whole.
const (
	updateDir = layout.UpdateStateDir
	espMount  = "/run/esp"
	sysBlock  = "/sys/class/block"
)

// Agent is sysd's updater: the API's, the health gate's and the strategy
// loop's.
type Agent struct {
	u      *update.Updater
	l      *log.Logger
	cfg    atomic.Pointer[userdata.Update] // the berth.update in force
	reboot func() error
	out    io.Writer // the console, for the gate's stable lines
	// espReady is closed once the ESP is checked and mounted: off the
	// boot's critical path (fsck.fat takes seconds under emulation), and
	// awaited by everything that reads or writes the ESP.
	espReady chan struct{}
	// gateDone is closed when this boot's slot is decided good (or
	// needed no verdict): the moment to report steady state.
	gateDone chan struct{}
	coord    atomic.Pointer[coordinator] // berth.swarm's reboot slots; nil: none
}

// Coordinator is whom a machine asks before it reboots into a new slot
// (berth.update.coordination: swarm), and tells once it is steady.
type Coordinator interface {
	PreReboot(ctx context.Context) error
	SteadyState(ctx context.Context) error
}

type coordinator struct{ Coordinator }

// SetCoordinator gives the agent the fleet's reboot slots; they are used
// when berth.update.coordination is swarm.
func (x *Agent) SetCoordinator(c Coordinator) {
	x.coord.Store(&coordinator{c})
	// Steady at every boot: a machine that rebooted into a new slot
	// (or back to its old one) frees the slot it held; one that held
	// none is told so. After the gate, on a slot on trial.
	go func() {
		<-x.gateDone
		if c := x.coordinated(); c != nil {
			if err := c.SteadyState(context.Background()); err != nil {
				x.l.Printf("update: steady state: %v", err)
			}
		}
	}()
}

// coordinated is the coordinator in force, or nil.
func (x *Agent) coordinated() Coordinator {
	c := x.coord.Load()
	if c == nil || x.config().Coordination != userdata.CoordinationSwarm {
		return nil
	}
	return c.Coordinator
}

// rebootIntoUpdate reboots into a newly installed slot: with coordination
// swarm, once the fleet gave this machine a reboot slot.
func (x *Agent) rebootIntoUpdate() error {
	if c := x.coordinated(); c != nil {
		x.l.Printf("update: asking the fleet for a reboot slot")
		if err := c.PreReboot(context.Background()); err != nil {
			return fmt.Errorf("take a reboot slot: %w", err)
		}
		x.l.Printf("update: the fleet gave this machine a reboot slot")
	}
	return x.reboot()
}

// New starts mounting the ESP (off the boot's critical path) and returns
// the agent of the running slot.
func New(l *log.Logger, out io.Writer, r *reaper.Reaper, version, slot string, reboot func() error) *Agent {
	x := &Agent{l: l, reboot: reboot, out: out, espReady: make(chan struct{}), gateDone: make(chan struct{})}
	go func() {
		defer close(x.espReady)
		if err := mountESP(l, r); err != nil {
			// Loud: on a slot on trial no gate means no verdict; it
			// falls back only after its tries are spent by reboots.
			l.Printf("update: %v: updates and the health gate are off (a slot on trial stays undecided until it reboots)", err)
		}
	}()
	x.u = &update.Updater{Machine: update.Machine{
		Slot: slot, Version: version,
		Records: update.Records{Dir: updateDir},
		ESP:     espMount,
		Partition: func(s string) (string, error) {
			label := layout.RootLabel(s)
			if dev, ok := blockdev.ByLabel(sysBlock)[label]; ok {
				return dev, nil
			}
			return "", fmt.Errorf("slot %s: no partition labelled %s", s, label)
		},
		Reboot: x.rebootIntoUpdate,
	}, PauseAt: pauseAtFile(pauseAtPath)}
	return x
}

// pauseAtPath is the power-cut tests' seam on a real machine (root-only,
// on tmpfs, gone at reboot): an update stops at the moment it names.
const pauseAtPath = "/run/berth/update-pause-at"

func pauseAtFile(path string) func() string {
	return func() string {
		b, err := os.ReadFile(path)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
}

// fsckFAT is dosfstools' checker in the root image.
const fsckFAT = "/sbin/fsck.fat"

// mountESP checks the partition labelled ESP and mounts it read-write on
// /run/esp. FAT has no journal: a power cut during an update leaves it
// dirty, and the kernel turns a FAT it finds inconsistent read-only.
func mountESP(l *log.Logger, r *reaper.Reaper) error {
	dev, ok := blockdev.ByLabel(sysBlock)[layout.LabelESP]
	if !ok {
		return errors.New("no partition labelled ESP")
	}
	var out strings.Builder
	cmd := exec.Command(fsckFAT, "-a", "-w", dev)
	cmd.Stdout, cmd.Stderr = &out, &out
	if _, exit, err := r.Start(cmd); err != nil {
		l.Printf("update: ESP: %v", err)
	} else if e := <-exit; e.Status.ExitStatus() != 0 {
		// 1: errors were found and mended.
		l.Printf("update: ESP %s checked (%s): %s", dev, e, strings.TrimSpace(out.String()))
	}
	if err := os.MkdirAll(espMount, 0o700); err != nil {
		return fmt.Errorf("ESP: %w", err)
	}
	// dirsync: vfat's rename writes the new directory entry with size 0
	// and fills it in only when the file's inode is written back, which
	// syncing the directory does not do; a power cut after the rename
	// left an empty boot entry (the QEMU power-cut test found it). With
	// dirsync the rename writes the whole entry at once.
	// PID 1 loads the root's modules in the background beside sysd: vfat
	// may not be there yet (a direct boot under load met ENODEV). Load it
	// here, and give a load in flight time to finish.
	if errs := kmod.LoadAll(espModules); len(errs) > 0 {
		l.Printf("update: ESP: %v", errors.Join(errs...))
	}
	err := retryNoDevice(espMountWait, func() error {
		return unix.Mount(dev, espMount, "vfat", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_DIRSYNC, "umask=0077")
	})
	if err != nil {
		return fmt.Errorf("mount ESP %s on %s: %w", dev, espMount, err)
	}
	return nil
}

// espModules are the file system and code pages the ESP's mount needs.
var espModules = []string{"vfat", "nls_cp437", "nls_ascii"}

// espMountWait bounds the wait for the vfat driver.
const espMountWait = 60 * time.Second

// retryNoDevice calls mount until it stops failing with ENODEV (a file
// system type the kernel does not know yet), for at most wait.
func retryNoDevice(wait time.Duration, mount func() error) error {
	deadline := time.Now().Add(wait)
	for delay := 10 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		err := mount()
		if !errors.Is(err, unix.ENODEV) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(delay)
	}
}

// Configure applies berth.update from user-data.
func (x *Agent) Configure(c *userdata.Update) {
	var cfg userdata.Update
	if c != nil {
		cfg = *c
	}
	root, err := os.ReadFile(update.TrustedRootPath)
	if err != nil && cfg.Server != "" {
		x.l.Printf("update: %v: this image trusts no release repository", err)
	}
	x.cfg.Store(&cfg)
	x.u.Configure(update.Source{
		Server: cfg.Server, Channel: cfg.Channel, Root: root,
		MetadataDir: updateDir + "/metadata", Arch: runtime.GOARCH,
		// berth.proxy, read at each request; CAs from the system bundle
		// (ca_certs), which user-data writes before the agent starts.
		HTTP: &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 30 * time.Second,
			Proxy: update.ProxyFromFile(layout.ProxyEnv)}},
	}, cfg.Tries)
}

func (x *Agent) config() userdata.Update {
	if c := x.cfg.Load(); c != nil {
		return *c
	}
	return userdata.Update{}
}

func (x *Agent) strategy() update.Strategy {
	cfg := x.config()
	switch {
	case cfg.Strategy != "":
		return cfg.Strategy
	case cfg.Server == "":
		return update.StrategyOff
	}
	return update.StrategyCheck
}

func duration(s string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d
	}
	return def
}

// RunGate runs the health gate when this boot is a slot on trial: it marks
// the slot good, or records why not and reboots, and the boot loader
// falls back to the other slot. list is the services' states.
func (x *Agent) RunGate(ctx context.Context, list func() []wire.Service) {
	<-x.espReady
	trial, err := x.u.Booted(time.Now().UTC())
	if err != nil {
		x.l.Printf("update: %v", err)
	}
	if !trial {
		decided(x.l)
		close(x.gateDone)
		return
	}
	mc, cfg := x.u.Machine, x.config()
	g := HealthGate{
		Timeout: duration(cfg.HealthTimeout, 120*time.Second),
		Checks:  cfg.HealthChecks,
		List:    list,
		Probe: func(ctx context.Context, url string) error {
			_, err := probe.Check(ctx, url, "")
			return err
		},
	}
	x.l.Printf("update: slot %s (%s) is on trial: health gate, deadline %s", mc.Slot, mc.Version, g.Timeout)
	if err := g.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			// sysd is stopping (a reboot, a poweroff): no verdict; the
			// slot keeps its tries for the next boot.
			return
		}
		reason := err.Error()
		if ferr := x.u.Failed(time.Now().UTC(), reason); ferr != nil {
			x.l.Printf("update: %v", ferr)
		}
		fmt.Fprintf(x.out, "berth: health gate failed slot=%s version=%s reason=%q\n", mc.Slot, mc.Version, reason)
		x.l.Printf("update: rebooting: the boot loader goes back to slot %s", update.Other(mc.Slot))
		if err := x.reboot(); err != nil {
			x.l.Printf("update: reboot: %v", err)
		}
		return
	}
	if err := x.u.Passed(time.Now().UTC()); err != nil {
		x.l.Printf("update: marking slot %s good: %v", mc.Slot, err)
		return
	}
	decided(x.l)
	close(x.gateDone)
	fmt.Fprintf(x.out, "berth: health gate passed slot=%s version=%s\n", mc.Slot, mc.Version)
}

// decided tells PID 1 that this boot needs no trial deadline any more.
func decided(l *log.Logger) {
	err := os.MkdirAll(filepath.Dir(layout.TrialDecidedFile), 0o755)
	if err == nil {
		err = os.WriteFile(layout.TrialDecidedFile, nil, 0o644)
	}
	if err != nil {
		l.Printf("update: tell PID 1 the trial is decided: %v", err)
	}
}

// Loop checks for updates every interval (±10%) and does what the
// strategy says, until ctx ends.
func (x *Agent) Loop(ctx context.Context) {
	<-x.espReady
	first := true
	for {
		iv := duration(x.config().Interval, 6*time.Hour)
		wait := iv
		if first {
			wait = min(iv, 5*time.Minute)
			first = false
		}
		wait += time.Duration((rand.Float64()*0.2 - 0.1) * float64(wait))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		strategy := x.strategy()
		if strategy == update.StrategyOff || x.u.Busy() {
			continue
		}
		opt := update.Options{DryRun: strategy == update.StrategyCheck, DownloadOnly: strategy == update.StrategyDownload, NoReboot: strategy == update.StrategyReboot}
		a, err := x.upgrade(ctx, opt, nil)
		switch {
		case errors.Is(err, update.ErrUpToDate):
			continue
		case err != nil:
			x.l.Printf("update (%s): %v", strategy, err)
			continue
		case strategy == update.StrategyCheck:
			x.l.Printf("update: %s is offered on %s (strategy check: os-ctl upgrade installs it)", a.To.Version, a.Channel)
			continue
		case strategy == update.StrategyDownload:
			x.l.Printf("update: %s downloaded and verified (strategy download: os-ctl upgrade installs it)", a.To.Version)
			continue
		}
		at := time.Now()
		if w, err := userdata.ParseWindow(x.config().RebootWindow); err == nil {
			at = w.Next(at)
		}
		x.l.Printf("update: %s installed in slot %s; rebooting at %s", a.To.Version, a.To.Slot, at.UTC().Format(time.RFC3339))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(at)):
		}
		if err := x.rebootIntoUpdate(); err != nil {
			x.l.Printf("update: reboot: %v", err)
		}
	}
}

// The API's Updates.

func (x *Agent) Status() update.Status {
	<-x.espReady
	return x.u.Status(x.strategy())
}

func (x *Agent) Upgrade(ctx context.Context, opt update.Options, report func(update.Progress)) (update.Attempt, error) {
	<-x.espReady
	return x.upgrade(ctx, opt, report)
}

// updateNice is the update's CPU priority: downloading, hashing and
// writing a slot (a minute of CPU under emulation) yield to the
// machine's containers, and take what they leave.
const updateNice = 19

// upgrade runs an update on a thread of its own at low CPU and I/O
// priority.
func (x *Agent) upgrade(ctx context.Context, opt update.Options, report func(update.Progress)) (update.Attempt, error) {
	type result struct {
		a   update.Attempt
		err error
	}
	done := make(chan result, 1)
	go func() {
		if err := lowprio.Thread(updateNice); err != nil {
			x.l.Printf("update: %v (running at the usual priority)", err)
		}
		a, err := x.u.Upgrade(ctx, opt, report)
		done <- result{a, err}
	}()
	r := <-done
	return r.a, r.err
}

func (x *Agent) Rollback() (update.SlotRelease, error) {
	<-x.espReady
	return x.u.Rollback()
}

func (x *Agent) SetChannel(name string) error { return x.u.Machine.Records.SetChannel(name) }
