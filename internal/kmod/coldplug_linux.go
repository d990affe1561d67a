package kmod

import (
	"errors"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Coldplug loads the drivers of the devices that are already there, as
// udev's coldplug does at boot: every device's modalias against
// modules.alias. A round loads what matches and was not tried before;
// loading a bus driver (a SCSI host, a USB controller) reveals devices
// the next round serves.
type Coldplug struct {
	Sysfs   string // normally /sys
	Matcher *Matcher
	Nice    int // the loading threads' nice value (LoadAllNice)

	mu       sync.Mutex
	tried    map[string]bool
	inflight sync.WaitGroup
	pending  int
	errs     []error
}

// NewColdplug reads the running kernel's modules.alias. With no
// modules.alias (a kernel without modules) it serves nothing.
func NewColdplug(nice int) (*Coldplug, error) {
	a, err := ReadAliases(ModulesDir())
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	return &Coldplug{Sysfs: "/sys", Matcher: a.Matcher(), Nice: nice}, nil
}

// claim returns the modules of mods not tried before, and marks them
// tried. A module is tried once: one that fails fails the same way for
// the next device.
func (c *Coldplug) claim(mods []string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tried == nil {
		c.tried = map[string]bool{}
	}
	var out []string
	for _, m := range mods {
		if !c.tried[m] {
			c.tried[m] = true
			out = append(out, m)
		}
	}
	return out
}

// load loads mods and returns the errors that matter: a module whose
// init finds no device of its own (a CPU frequency driver on a virtual
// CPU) is no problem, and udev says nothing of it either.
func (c *Coldplug) load(mods []string) []error {
	var errs []error
	for _, err := range LoadAllNice(mods, c.Nice) {
		if !errors.Is(err, unix.ENODEV) {
			errs = append(errs, err)
		}
	}
	return errs
}

// Load loads the modules not tried before, and returns them with one
// error per module that failed.
func (c *Coldplug) Load(mods []string) (loaded []string, errs []error) {
	loaded = c.claim(mods)
	if len(loaded) > 0 {
		errs = c.load(loaded)
	}
	return loaded, errs
}

// Round lists the devices and loads the modules that match them. It
// returns the devices as they were before the load.
func (c *Coldplug) Round() (devs []Device, loaded []string, errs []error) {
	devs, err := Devices(c.Sysfs)
	if err != nil {
		errs = append(errs, err)
	}
	loaded, lerrs := c.Load(c.Matcher.Wanted(devs, nil))
	return devs, loaded, append(errs, lerrs...)
}

// Start is Round without waiting for the loads: a slow driver (a SATA
// controller waiting for its links) does not hold back the next round,
// which serves the devices a fast one revealed, as udev handles events
// in parallel. Wait collects the errors.
func (c *Coldplug) Start() (devs []Device, started []string, err error) {
	devs, err = Devices(c.Sysfs)
	return devs, c.StartModules(c.Matcher.Wanted(devs, nil)), err
}

// StartModules starts loading the modules of mods not tried before, and
// returns them; Wait collects the errors.
func (c *Coldplug) StartModules(mods []string) (started []string) {
	started = c.claim(mods)
	if len(started) == 0 {
		return nil
	}
	c.mu.Lock()
	c.pending++
	c.mu.Unlock()
	c.inflight.Add(1)
	go func() {
		defer c.inflight.Done()
		errs := c.load(started)
		c.mu.Lock()
		c.errs = append(c.errs, errs...)
		c.pending--
		c.mu.Unlock()
	}()
	return started
}

// Busy says whether loads Start began are still running.
func (c *Coldplug) Busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending > 0
}

// Wait waits for the loads Start began and returns their errors.
func (c *Coldplug) Wait() []error {
	c.inflight.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	errs := c.errs
	c.errs = nil
	return errs
}

// Settle runs rounds until one loads nothing new, at most max rounds.
func (c *Coldplug) Settle(max int) (loaded []string, errs []error) {
	for i := 0; i < max; i++ {
		_, l, e := c.Round()
		loaded, errs = append(loaded, l...), append(errs, e...)
		if len(l) == 0 {
			break
		}
	}
	return loaded, errs
}
