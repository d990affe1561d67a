package kmod

import (
	"errors"
	"os"

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
	tried   map[string]bool
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

// Load loads the modules not tried before, and returns them with one
// error per module that failed. A module is tried once: one that fails
// fails the same way for the next device.
func (c *Coldplug) Load(mods []string) (loaded []string, errs []error) {
	if c.tried == nil {
		c.tried = map[string]bool{}
	}
	for _, m := range mods {
		if !c.tried[m] {
			c.tried[m] = true
			loaded = append(loaded, m)
		}
	}
	if len(loaded) > 0 {
		for _, err := range LoadAllNice(loaded, c.Nice) {
			// A module whose init finds no device of its own (a CPU
			// frequency driver on a virtual CPU) is no problem: udev
			// says nothing of it either.
			if !errors.Is(err, unix.ENODEV) {
				errs = append(errs, err)
			}
		}
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
	loaded, lerrs := c.Load(c.Matcher.Wanted(devs, c.tried))
	return devs, loaded, append(errs, lerrs...)
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
