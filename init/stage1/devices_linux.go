package stage1

import (
	"errors"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/blockdev"
	"berth.dev/berth/internal/kmod"
)

// settleTime is how long stage 1 waits for the boot disk after the last
// sign of progress (a driver loading, a device appearing): a SCSI bus
// scan or a USB stick's enumeration takes seconds, but unknown hardware
// must not hang the boot.
const settleTime = 15 * time.Second

// drivers is stage 1's module loading: the initramfs's fixed list (file
// systems, dm-verity) and the drivers the machine's devices ask for, the
// two side by side. Under emulation every module costs time, and a SATA
// controller probing its empty links waits: nothing waits for what it
// does not need.
type drivers struct {
	l       *log.Logger
	fixed   chan []error
	cp      *kmod.Coldplug
	events  chan kmod.Uevent
	rescan  chan struct{}
	loaded  []string
	passes  int
	settled bool
}

// startDrivers starts loading the fixed list and listening to the
// kernel's device events.
func startDrivers(l *log.Logger) *drivers {
	d := &drivers{l: l, fixed: make(chan []error, 1), events: make(chan kmod.Uevent, 256), rescan: make(chan struct{}, 1)}
	// Listen before the first pass: a device that appears meanwhile is
	// then either seen by it or announced.
	if conn, err := kmod.ListenUevents(); err != nil {
		l.Printf("drivers: %v: looking at sysfs again every 100 ms instead", err)
		go pollSysfs(d.rescan)
	} else {
		go forwardUevents(conn, d.events, d.rescan)
	}
	go func() {
		raw, err := os.ReadFile(modulesList)
		if err != nil {
			d.fixed <- []error{fmt.Errorf("modules: %w", err)}
			return
		}
		// LoadAll keeps the list's "-" barriers: crc32c before ext4.
		d.fixed <- kmod.LoadAll(kmod.ParseList(string(raw)))
	}()
	cp, err := kmod.NewColdplug(0)
	if err != nil {
		l.Printf("drivers: %v: only the fixed list is loaded", err)
		cp = &kmod.Coldplug{Sysfs: "/sys", Matcher: kmod.Aliases(nil).Matcher()}
	}
	d.cp = cp
	return d
}

func (d *drivers) started(mods []string) {
	if len(mods) > 0 {
		d.passes++
		d.loaded = append(d.loaded, mods...)
	}
}

// findPartitions loads the drivers of the devices the machine has: one
// coldplug pass over sysfs, then the kernel's uevents for the devices
// each driver reveals, as udev would, until the block devices with the
// given labels appear (look names what it sees: GPT partition labels, or
// the live medium's volume label). Each load starts without waiting for
// the others. When the labels never appear it returns what it found and the devices
// that no driver claimed. A module that fails is named and boot goes
// on: the device it serves may not be needed.
func (d *drivers) findPartitions(look func() map[string]string, labels ...string) (map[string]string, []kmod.Device) {
	_, started, err := d.cp.Start()
	if err != nil {
		d.l.Print(err)
	}
	d.started(started)
	progress := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case ev := <-d.events:
			progress = time.Now()
			if ev.Action == "add" && ev.Modalias != "" {
				d.started(d.cp.StartModules(d.cp.Matcher.Match(ev.Modalias)))
			}
			if ev.Subsystem != "block" {
				continue // only a new disk or partition may bring a label
			}
		case <-d.rescan:
			_, started, _ := d.cp.Start()
			d.started(started)
		case <-tick.C:
			if d.cp.Busy() {
				progress = time.Now()
			}
		}
		found := look()
		if hasAll(found, labels) {
			return found, nil
		}
		if time.Since(progress) > settleTime {
			d.finish()
			devs, _ := kmod.Devices("/sys")
			var unclaimed []kmod.Device
			for _, dev := range devs {
				if dev.Unclaimed() {
					unclaimed = append(unclaimed, dev)
				}
			}
			return found, unclaimed
		}
	}
}

// partitionLabels is what findPartitions looks for on an installed
// machine: the GPT partitions' labels.
func partitionLabels() map[string]string { return blockdev.ByLabel("/sys/class/block") }

// liveVolume is what it looks for on a live boot: the medium whose
// ISO9660 volume has label (a CD-ROM, or a USB stick the ISO was
// written to).
func liveVolume(label string) func() map[string]string {
	return func() map[string]string {
		if dev, fstype := blockdev.FindVolume("/sys/class/block", label); fstype == "iso9660" {
			return map[string]string{label: dev}
		}
		return nil
	}
}

// waitFixed waits for the fixed list: the root's file system and
// dm-verity are needed from here on.
func (d *drivers) waitFixed() {
	for _, err := range <-d.fixed {
		d.l.Print(err)
	}
	d.fixed <- nil
}

// finish waits for the loads still running, then gives the devices they
// revealed their drivers (a NoCloud CD-ROM on the disk's controller, or
// on the SATA controller beside a virtio disk), so that sysd's first
// search for user-data finds them; and says what was loaded.
func (d *drivers) finish() {
	if d.settled {
		return
	}
	d.settled = true
	for _, err := range d.cp.Wait() {
		d.l.Print(err)
	}
	devs, loaded, errs := d.cp.Round()
	for _, err := range errs {
		d.l.Print(err)
	}
	d.started(loaded)
	d.l.Printf("drivers: %s (for %d devices, %d passes)", strings.Join(d.loaded, " "), len(devs), d.passes)
}

// forwardUevents hands the kernel's events to the loop; lost events
// (a full socket buffer) ask for a pass over sysfs instead, and a socket
// that stops working for one every 100 ms.
func forwardUevents(conn *kmod.UeventConn, events chan<- kmod.Uevent, rescan chan<- struct{}) {
	for {
		ev, err := conn.Read()
		if err != nil {
			select {
			case rescan <- struct{}{}:
			default:
			}
			if errors.Is(err, unix.ENOBUFS) {
				continue
			}
			pollSysfs(rescan)
		}
		events <- ev
	}
}

// pollSysfs asks for a pass over sysfs every 100 ms, for ever.
func pollSysfs(rescan chan<- struct{}) {
	for range time.Tick(100 * time.Millisecond) {
		select {
		case rescan <- struct{}{}:
		default:
		}
	}
}

// describeUnclaimed names the devices without a driver, for the message
// of a boot that found no disk: the controller it needs is among them.
func describeUnclaimed(all []kmod.Device) string {
	// ACPI nodes only describe devices that are listed on their own
	// buses; the rest is ordered with the buses disks hang on first.
	var devs []kmod.Device
	for _, d := range all {
		if d.Bus != "acpi" {
			devs = append(devs, d)
		}
	}
	sort.SliceStable(devs, func(i, j int) bool { return diskBus(devs[i].Bus) && !diskBus(devs[j].Bus) })
	if len(devs) == 0 {
		return "every device the kernel lists has a driver"
	}
	const max = 16
	var names []string
	for i, d := range devs {
		if i == max {
			names = append(names, fmt.Sprintf("and %d more", len(devs)-max))
			break
		}
		names = append(names, d.String())
	}
	return "devices no driver in the initramfs claimed: " + strings.Join(names, ", ")
}

// diskBus says whether a disk controller may sit on the bus.
func diskBus(bus string) bool {
	switch bus {
	case "pci", "usb", "virtio", "scsi", "vmbus", "xen", "mmc", "sdio":
		return true
	}
	return false
}
