// Package pid1 is stage 2 of init: PID 1 on the real root. It reaps every
// orphan, keeps sysd running, turns signals and the power button into a
// clean shutdown, and never returns.
package pid1

import (
	"context"
	"log"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"time"

	"berth.dev/berth/internal/console"

	"golang.org/x/sys/unix"

	"berth.dev/berth/init/early"
	"berth.dev/berth/init/shutdown"
	"berth.dev/berth/internal/osrelease"
	"berth.dev/berth/internal/reaper"
)

const (
	modulesList = "/etc/berth/modules"
	// How long sysd gets to stop its services before everything is
	// signalled; sysd's own per-service timeouts fit inside it.
	sysdStopTimeout = 30 * time.Second
	// How long every remaining process gets after SIGTERM before SIGKILL.
	termTimeout = 5 * time.Second
)

type pid1 struct {
	log    *log.Logger
	reaper *reaper.Reaper
	// down receives the shutdown request; the first one wins.
	down     chan shutdown.Action
	downOnce sync.Once
	// sysdStop is closed to tell the supervisor loop to stop sysd.
	sysdStop chan struct{}
	sysdDone chan struct{}
	// console is the console log level the machine booted with.
	console consoleLevel
	// drivers is closed once the machine's devices have their drivers
	// (the coldplug at boot is done).
	drivers chan struct{}
}

// Main runs PID 1. It does not return; on a panic it shuts the machine
// down and reboots rather than letting the kernel panic.
func Main() {
	p := &pid1{
		log:      console.Logger(console.Mirror(os.Stderr)),
		reaper:   reaper.New(),
		down:     make(chan shutdown.Action, 1),
		sysdStop: make(chan struct{}),
		sysdDone: make(chan struct{}),
		drivers:  make(chan struct{}),
	}
	defer p.recoverAndReboot("main")
	p.run()
	select {}
}

func (p *pid1) run() {
	// Nothing may block here before the reaper runs: orphans pile up.
	p.goSafe("reaper", func() { p.reaper.Run(context.Background()) })
	if err := early.Run(steps, func(s string) { p.log.Print(s) }); err != nil {
		p.log.Printf("early file system: %v", err)
	}
	p.log.Printf("init stage 2 version=%s", osrelease.Version("/etc/os-release"))
	var err error
	if p.console, err = readConsoleLevel(printkFile); err != nil {
		p.log.Print(err)
	}
	// Ctrl-Alt-Del becomes SIGINT to PID 1 instead of an instant reboot.
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF); err != nil {
		p.log.Printf("ctrl-alt-del to SIGINT: %v", err)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGPWR, unix.SIGUSR2)
	p.goSafe("signals", func() {
		for s := range sigs {
			switch s {
			case unix.SIGINT:
				p.request(shutdown.Reboot, "SIGINT (ctrl-alt-del)")
			default:
				p.request(shutdown.Poweroff, s.String())
			}
		}
	})
	// Nothing sysd needs at its start waits for these: load them beside it.
	p.goSafe("modules", p.loadModules)
	p.goSafe("power button", func() {
		p.watchPowerButton(func() { p.request(shutdown.Poweroff, "power button") })
	})
	p.goSafe("sysd", p.superviseSysd)
	p.goSafe("trial", p.watchTrial)
	p.shutdown(<-p.down)
}

// request asks for a shutdown; later requests are ignored.
func (p *pid1) request(a shutdown.Action, why string) {
	p.downOnce.Do(func() {
		p.log.Printf("%s requested by %s", a, why)
		p.down <- a
	})
}

// shutdown stops sysd (which stops its services), then every process left,
// unmounts and powers off or reboots.
func (p *pid1) shutdown(a shutdown.Action) {
	close(p.sysdStop)
	select {
	case <-p.sysdDone:
	case <-time.After(sysdStopTimeout + 2*time.Second):
		p.log.Printf("sysd did not stop in %v", sysdStopTimeout)
	}
	p.killAll()
	shutdown.Unmount(p.log.Printf)
	p.log.Printf("file systems unmounted")
	shutdown.Final(a, p.log.Printf)
}

// killAll sends SIGTERM to every process, waits, then SIGKILL.
// kill(-1) reaches everything but PID 1 itself.
func (p *pid1) killAll() {
	_ = unix.Kill(-1, unix.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), termTimeout)
	err := p.reaper.WaitNone(ctx)
	cancel()
	if err == nil {
		return
	}
	p.log.Printf("processes still running after SIGTERM and %v: sending SIGKILL", termTimeout)
	_ = unix.Kill(-1, unix.SIGKILL)
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := p.reaper.WaitNone(ctx); err != nil {
		p.log.Print(err)
	}
}

// goSafe runs fn in a goroutine whose panic reboots the machine cleanly:
// a panic in any goroutine would otherwise end PID 1 and panic the kernel.
func (p *pid1) goSafe(name string, fn func()) {
	go func() {
		defer p.recoverAndReboot(name)
		fn()
	}()
}

func (p *pid1) recoverAndReboot(where string) {
	r := recover()
	if r == nil {
		return
	}
	p.log.Printf("PID 1 panicked in %s: %v\n%s", where, r, debug.Stack())
	// The recovery must not panic out either: a second panic goes
	// straight to the reboot.
	defer func() {
		if r := recover(); r != nil {
			// Not p.log, in case it is what panicked: a plain one.
			plain := log.New(os.Stderr, "berth: ", 0)
			plain.Printf("recovery panicked too: %v", r)
			shutdown.Final(shutdown.Reboot, plain.Printf)
		}
	}()
	done := make(chan struct{})
	go func() {
		p.killAll()
		shutdown.Unmount(p.log.Printf)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
	}
	shutdown.Final(shutdown.Reboot, p.log.Printf)
}
