package machine

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"

	"berth.dev/berth/internal/kmod"
	"berth.dev/berth/sysd/api/wire"
)

// Hardware lists the devices below sysfs that have a modalias or a
// driver, with the interfaces and block devices each provides and the
// modules m finds for it.
func Hardware(sysfs string, m *kmod.Matcher) (wire.Hardware, error) {
	devs, err := kmod.Devices(sysfs)
	var hw wire.Hardware
	for _, d := range devs {
		if d.Modalias == "" && d.Driver == "" {
			continue
		}
		w := wire.Device{Path: d.Path, Bus: d.Bus, Modalias: d.Modalias, Driver: d.Driver, Class: d.Class}
		for _, sub := range []string{"net", "block"} {
			ents, _ := os.ReadDir(filepath.Join(sysfs, d.Path, sub))
			for _, e := range ents {
				w.Names = append(w.Names, e.Name())
			}
		}
		if m != nil {
			w.Modules = m.Match(d.Modalias)
		}
		hw.Devices = append(hw.Devices, w)
	}
	return hw, err
}

// firmwareRE matches the kernel's reports of firmware it could not load:
// "DRIVER DEVICE: Direct firmware load for FILE failed with error -2"
// (firmware_class) and "DRIVER DEVICE: firmware: failed to load FILE (-2)".
var firmwareRE = regexp.MustCompile(`^(?:<\d+> )?(?:(\S+) (\S+): )?(?:Direct firmware load for (\S+) failed with error (-?\d+)|firmware: failed to load (\S+) \((-?\d+)\))`)

// Firmware collects the firmware files drivers asked for in vain, from
// the kernel's log lines: each is a problem for `os-ctl status`.
type Firmware struct {
	mu      sync.Mutex
	missing map[string]string
}

// Observe reads one kernel log line.
func (f *Firmware) Observe(line string) {
	m := firmwareRE.FindStringSubmatch(line)
	if m == nil {
		return
	}
	file, code := m[3], m[4]
	if file == "" {
		file, code = m[5], m[6]
	}
	who := "a driver"
	if m[1] != "" {
		who = m[1] + " (" + m[2] + ")"
	}
	msg := who + " asked for firmware " + file + ", which this image does not have"
	if code != "-2" {
		msg = who + " could not load firmware " + file + " (error " + code + ")"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.missing == nil {
		f.missing = map[string]string{}
	}
	f.missing[file] = msg
}

// Missing is the firmware problems, sorted.
func (f *Firmware) Missing() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.missing))
	for _, msg := range f.missing {
		out = append(out, msg)
	}
	sort.Strings(out)
	return out
}
