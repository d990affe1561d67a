package kmod

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Device is one device the kernel lists on a bus, as sysfs shows it.
type Device struct {
	Path     string // below /sys, e.g. /devices/pci0000:00/0000:00:02.0
	Bus      string // pci, usb, scsi, virtio, acpi, …; or the class (input)
	Modalias string // what modules.alias patterns match; empty for none
	// Driver is the driver bound to it, or to the device an ACPI node
	// describes (its physical_node); empty when unclaimed.
	Driver string
	// Class says it is a class device (an input device): handlers such
	// as evdev attach to it, no driver binds.
	Class bool
}

// Unclaimed says whether a bus device has an alias but no driver: the
// devices worth naming when a boot cannot find its disk.
func (d Device) Unclaimed() bool { return !d.Class && d.Modalias != "" && d.Driver == "" }

func (d Device) String() string {
	s := d.Bus + " " + filepath.Base(d.Path)
	if d.Modalias != "" {
		s += " (" + d.Modalias + ")"
	}
	return s
}

// Devices lists the devices below sysfs (normally /sys) the way udev's
// coldplug enumerates them: every device on a bus (/sys/bus/*/devices/*),
// and the class devices that have a modalias (/sys/class/*/*: input
// devices, which evdev serves), sorted by path. A device that vanishes
// while it is read is left out; a directory that cannot be read is an
// error naming it, after the others are listed.
func Devices(sysfs string) ([]Device, error) {
	var out []Device
	var firstErr error
	seen := map[string]bool{}
	list := func(kind, name, dir string, needAlias bool) {
		ents, err := os.ReadDir(dir)
		if err != nil {
			if !os.IsNotExist(err) && firstErr == nil {
				firstErr = fmt.Errorf("list devices of %s %s: %w", kind, name, err)
			}
			return
		}
		for _, e := range ents {
			d, ok := readDevice(sysfs, filepath.Join(dir, e.Name()), needAlias)
			if ok && !seen[d.Path] {
				seen[d.Path] = true
				d.Bus, d.Class = name, kind == "class"
				out = append(out, d)
			}
		}
	}
	for _, top := range []struct {
		kind, dir, sub string
		needAlias      bool
	}{{"bus", "bus", "devices", false}, {"class", "class", "", true}} {
		groups, err := os.ReadDir(filepath.Join(sysfs, top.dir))
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("list %s: %w", filepath.Join(sysfs, top.dir), err)
			}
			continue
		}
		for _, g := range groups {
			list(top.kind, g.Name(), filepath.Join(sysfs, top.dir, g.Name(), top.sub), top.needAlias)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, firstErr
}

// readDevice reads the device behind a bus's or class's link. With
// needAlias, a device without a modalias is left out before its path is
// resolved: most class devices (ttys, block devices) have none, and the
// lookup costs under emulation.
func readDevice(sysfs, link string, needAlias bool) (Device, bool) {
	var d Device
	if raw, err := os.ReadFile(filepath.Join(link, "modalias")); err == nil {
		d.Modalias = strings.TrimSpace(string(raw))
	}
	if needAlias && d.Modalias == "" {
		return Device{}, false
	}
	// The links of /sys/bus and /sys/class point at the device's own
	// directory: one readlink says where it is (EvalSymlinks would
	// stat every component, which a scan of every device pays for
	// under emulation).
	target, err := os.Readlink(link)
	if err != nil {
		return Device{}, false
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(link), target)
	}
	real := filepath.Clean(target)
	if _, err := os.Lstat(real); err != nil {
		return Device{}, false
	}
	if rel, err := filepath.Rel(sysfs, real); err == nil {
		d.Path = "/" + rel
	}
	if drv, err := os.Readlink(filepath.Join(real, "driver")); err == nil {
		d.Driver = filepath.Base(drv)
	} else if drv, err := os.Readlink(filepath.Join(real, "physical_node", "driver")); err == nil {
		d.Driver = filepath.Base(drv)
	}
	return d, true
}
