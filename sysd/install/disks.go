// Package install puts Berth on a disk from the installer medium's live
// system: os-ctl install, or berth.install in user-data. It writes the
// disk image's partition table (grown to the disk), its ESP and slot A,
// formats STATE to fill the disk and leaves the user-data there for the
// first boot. It refuses a disk that is in use, too small, or that holds
// anything, unless forced, and says why before it writes a byte.
package install

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"berth.dev/berth/internal/blockdev"
	"berth.dev/berth/internal/layout"
	"berth.dev/berth/sysd/userdata"
)

// ErrBusy is an install asked for while one runs.
var ErrBusy = errors.New("an install is already running")

// Largest is the disk name that asks for the largest disk the installer
// may use.
const Largest = userdata.LargestDisk

// MinSize is the smallest disk Berth fits on: the image's layout.
func MinSize() int64 {
	_, size := layout.Plan(layout.Layout)
	return size
}

// Machine is what the checks read: sysfs's block devices, the mount and
// swap tables, and a device's first bytes. Tests give a fake tree.
type Machine struct {
	SysBlock string // /sys/class/block
	Mounts   string // /proc/self/mountinfo
	Swaps    string // /proc/swaps
	// Head reads a device's first 64 KiB.
	Head func(dev string) ([]byte, error)
}

// Disk is a whole disk that may be installed to.
type Disk struct {
	Name string // sda, vda, nvme0n1
	Size int64  // bytes
}

// Dev is the disk's device node.
func (d Disk) Dev() string { return "/dev/" + d.Name }

func (d Disk) String() string { return fmt.Sprintf("%s (%s)", d.Dev(), gib(d.Size)) }

func gib(n int64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }

// Refusal is why a disk cannot be installed to; Forcible ones give way to
// --force (the disk holds data, which the install erases).
type Refusal struct {
	Disk     string
	Reason   string
	Forcible bool
}

func (r *Refusal) Error() string {
	if r.Forcible {
		return fmt.Sprintf("%s %s: not touched (--force, or force: true in berth.install, erases it)", r.Disk, r.Reason)
	}
	return fmt.Sprintf("%s %s: not touched", r.Disk, r.Reason)
}

// Check says whether name (/dev/sda or sda) may be installed to: a whole,
// writable disk, not in use, big enough, and blank unless force.
func (m Machine) Check(name string, force bool) (Disk, error) {
	n := strings.TrimPrefix(filepath.Clean(name), "/dev/")
	d := Disk{Name: n}
	dir := filepath.Join(m.SysBlock, n)
	refuse := func(forcible bool, format string, args ...any) (Disk, error) {
		return d, &Refusal{Disk: "/dev/" + n, Reason: fmt.Sprintf(format, args...), Forcible: forcible}
	}
	if strings.Contains(n, "/") || n == "" || n == "." {
		return refuse(false, "is not a disk's device name (give /dev/sda, /dev/vda, /dev/nvme0n1, …)")
	}
	if _, err := os.Stat(dir); err != nil {
		return refuse(false, "is not a block device this machine has (os-ctl hw lists the disks)")
	}
	if exists(filepath.Join(dir, "partition")) {
		return refuse(false, "is a partition: give the whole disk")
	}
	if what := notADisk(n); what != "" {
		return refuse(false, "%s", what)
	}
	sectors, err := readInt(filepath.Join(dir, "size"))
	if err != nil {
		return refuse(false, "has no size in sysfs: %v", err)
	}
	d.Size = sectors * 512
	if ro, _ := readInt(filepath.Join(dir, "ro")); ro == 1 {
		return refuse(false, "is read-only")
	}
	if d.Size < MinSize() {
		return refuse(false, "is too small: %s, and Berth needs %s", gib(d.Size), gib(MinSize()))
	}
	parts := m.partitions(n)
	if use := m.inUse(n, parts); use != "" {
		return refuse(false, "is in use: %s", use)
	}
	if force {
		return d, nil
	}
	if len(parts) > 0 {
		var names []string
		for _, p := range parts {
			names = append(names, p.String())
		}
		return refuse(true, "holds partitions (%s)", strings.Join(names, ", "))
	}
	if m.Head != nil {
		head, err := m.Head("/dev/" + n)
		if err != nil {
			return refuse(false, "cannot be read: %v", err)
		}
		if what := holds(head); what != "" {
			return refuse(true, "holds %s", what)
		}
	}
	return d, nil
}

// Candidates returns the disks that may be installed to, largest first,
// and why each other disk may not.
func (m Machine) Candidates(force bool) ([]Disk, []error) {
	ents, _ := os.ReadDir(m.SysBlock)
	var ok []Disk
	var refused []error
	for _, e := range ents {
		n := e.Name()
		if exists(filepath.Join(m.SysBlock, n, "partition")) || notADisk(n) != "" {
			continue
		}
		d, err := m.Check(n, force)
		if err != nil {
			refused = append(refused, err)
			continue
		}
		ok = append(ok, d)
	}
	sort.SliceStable(ok, func(i, j int) bool { return ok[i].Size > ok[j].Size })
	return ok, refused
}

// Choose resolves a disk name, or Largest, to the disk to install to;
// for Largest it also returns why each other disk was passed over.
func (m Machine) Choose(name string, force bool) (Disk, []error, error) {
	if name != Largest {
		d, err := m.Check(name, force)
		return d, nil, err
	}
	ok, refused := m.Candidates(force)
	if len(ok) == 0 {
		if len(refused) == 0 {
			return Disk{}, nil, errors.New("no disk found: os-ctl hw lists the devices and their drivers")
		}
		return Disk{}, refused, fmt.Errorf("no disk can be installed to: %w", errors.Join(refused...))
	}
	return ok[0], refused, nil
}

// notADisk says what a block device named n is when it is no disk the
// firmware can boot from: a CD-ROM drive, or a virtual device (loop, RAM,
// device mapper, software RAID); "" for a disk.
func notADisk(n string) string {
	if strings.HasPrefix(n, "sr") {
		return "is a CD-ROM drive"
	}
	for _, p := range []string{"loop", "ram", "zram", "dm-", "md"} {
		if strings.HasPrefix(n, p) {
			return "is a virtual device, not a disk"
		}
	}
	return ""
}

// partition is one of a disk's partitions as the kernel sees them.
type partition struct{ Name, Label, Dev string }

func (p partition) String() string {
	if p.Label == "" {
		return p.Name
	}
	return p.Name + " " + p.Label
}

// partitions lists disk's partitions from sysfs.
func (m Machine) partitions(disk string) []partition {
	ents, _ := os.ReadDir(filepath.Join(m.SysBlock, disk))
	var out []partition
	for _, e := range ents {
		dir := filepath.Join(m.SysBlock, disk, e.Name())
		if !exists(filepath.Join(dir, "partition")) {
			continue
		}
		p := partition{Name: e.Name()}
		if f, err := os.Open(filepath.Join(dir, "uevent")); err == nil {
			p.Label = blockdev.ParseUevent(f)["PARTNAME"]
			f.Close()
		}
		p.Dev = readTrim(filepath.Join(dir, "dev"))
		out = append(out, p)
	}
	return out
}

// inUse says what uses the disk or one of its partitions: a mount, swap,
// or a holder (device mapper, RAID); "" when nothing does.
func (m Machine) inUse(disk string, parts []partition) string {
	devs := map[string]string{readTrim(filepath.Join(m.SysBlock, disk, "dev")): disk}
	names := []string{disk}
	for _, p := range parts {
		devs[p.Dev] = p.Name
		names = append(names, p.Name)
	}
	if b, err := os.ReadFile(m.Mounts); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) > 4 && f[2] != "" {
				if n, ok := devs[f[2]]; ok {
					return fmt.Sprintf("/dev/%s is mounted on %s", n, f[4])
				}
			}
		}
	}
	if b, err := os.ReadFile(m.Swaps); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) > 0 {
				for _, n := range names {
					if f[0] == "/dev/"+n {
						return fmt.Sprintf("/dev/%s is swap", n)
					}
				}
			}
		}
	}
	for _, n := range names {
		dir := filepath.Join(m.SysBlock, disk)
		if n != disk {
			dir = filepath.Join(dir, n)
		}
		if hs, _ := os.ReadDir(filepath.Join(dir, "holders")); len(hs) > 0 {
			return fmt.Sprintf("/dev/%s is held by %s", n, hs[0].Name())
		}
	}
	return ""
}

// holds names what a disk's first 64 KiB show it holds, when the kernel
// found no partitions: a partition table it did not read, or a file
// system on the whole disk; "" for a blank disk.
func holds(head []byte) string {
	switch {
	case len(head) >= 520 && string(head[512:520]) == "EFI PART":
		return "a GPT partition table"
	case len(head) >= 512 && head[510] == 0x55 && head[511] == 0xAA:
		return "a boot sector or an MBR partition table"
	}
	if t := blockdev.FSType(head); t != "" {
		return "a file system (" + t + ")"
	}
	if blockdev.ISO9660(head) {
		return "a file system (iso9660)"
	}
	if k, err := blockdev.Ext4At(bytes.NewReader(head)); err == nil && k == blockdev.Ext4Present {
		return "a file system (ext2/3/4)"
	}
	return ""
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func readTrim(p string) string {
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}

func readInt(p string) (int64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}
