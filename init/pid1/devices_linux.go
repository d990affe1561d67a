package pid1

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/cmdline"
	"berth.dev/berth/internal/kmod"
)

// coldplugRounds bounds the rounds at boot: each round serves the devices
// the previous one revealed (a USB controller, then its devices); a chain
// deeper than this is left to the kernel's events.
const coldplugRounds = 8

// loadModules loads the root image's boot list and berth.modules=, then
// the drivers of every device the machine has (coldplug: each modalias
// against the root's modules.alias), and from then on the drivers of
// devices that appear (a hot-plugged NIC or disk), as the kernel's
// uevents announce them. Without udev, nobody else does. A module that
// fails is named with the error; boot goes on.
func (p *pid1) loadModules() {
	events, cp := p.driversAtBoot()
	if events != nil && cp != nil {
		p.followDevices(events, cp)
	}
}

// driversAtBoot loads the boot list and the coldplug's drivers, and
// returns the uevent socket it opened first and the coldplug state for
// what follows.
func (p *pid1) driversAtBoot() (*kmod.UeventConn, *kmod.Coldplug) {
	// Even a failure here must not leave the power button's watcher
	// waiting.
	defer close(p.drivers)
	// Listen first: a device that appears during the coldplug is then
	// either seen by it or announced.
	events, err := kmod.ListenUevents()
	if err != nil {
		p.log.Printf("drivers: %v: devices that appear after boot get no driver", err)
	}
	// The boot list loads beside the coldplug: the network card's
	// driver must not wait for Docker's netfilter modules.
	var list sync.WaitGroup
	list.Add(1)
	go func() {
		defer list.Done()
		var names []string
		if raw, err := os.ReadFile(modulesList); err == nil {
			names = kmod.ParseList(string(raw))
		} else {
			p.log.Printf("modules: %v", err)
		}
		if raw, err := os.ReadFile("/proc/cmdline"); err == nil {
			names = append(names, cmdline.Parse(string(raw)).List("berth.modules")...)
		}
		for _, err := range kmod.LoadAllNice(names, 10) {
			p.log.Print(err)
		}
	}()
	cp, err := kmod.NewColdplug(10)
	if err != nil {
		p.log.Printf("drivers: %v: no driver is loaded for the machine's devices", err)
	} else {
		loaded, errs := cp.Settle(coldplugRounds)
		for _, err := range errs {
			p.log.Print(err)
		}
		p.log.Printf("drivers: %s (coldplug)", strings.Join(loaded, " "))
	}
	list.Wait()
	if err := os.MkdirAll(filepath.Dir(kmod.DoneFile), 0o755); err == nil {
		os.WriteFile(kmod.DoneFile, nil, 0o644)
	}
	return events, cp
}

// followDevices loads the drivers of devices the kernel adds from now on.
func (p *pid1) followDevices(events *kmod.UeventConn, cp *kmod.Coldplug) {
	defer events.Close()
	for {
		ev, err := events.Read()
		if errors.Is(err, unix.ENOBUFS) {
			// Events were lost: look at every device again.
			loaded, errs := cp.Settle(coldplugRounds)
			for _, err := range errs {
				p.log.Print(err)
			}
			if len(loaded) > 0 {
				p.log.Printf("drivers: %s (after lost device events)", strings.Join(loaded, " "))
			}
			continue
		}
		if err != nil {
			p.log.Printf("drivers: %v: devices that appear from now on get no driver", err)
			return
		}
		if ev.Action != "add" || ev.Modalias == "" {
			continue
		}
		loaded, errs := cp.Load(cp.Matcher.Match(ev.Modalias))
		for _, err := range errs {
			p.log.Print(err)
		}
		if len(loaded) > 0 {
			p.log.Printf("drivers: %s for %s %s (hotplug)", strings.Join(loaded, " "), ev.Subsystem, filepath.Base(ev.DevPath))
		}
	}
}
