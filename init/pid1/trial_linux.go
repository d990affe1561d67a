package pid1

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"berth.dev/berth/init/shutdown"
	"berth.dev/berth/internal/atomicfile"
	"berth.dev/berth/internal/efivar"
	"berth.dev/berth/internal/layout"
)

const (
	efivarsDir   = "/sys/firmware/efi/efivars"
	watchdogDev  = "/dev/watchdog"
	watchdogSecs = 60 // longer than a clean shutdown (sysd 30 s, then 5 s)
	trialTick    = 5 * time.Second
)

// watchTrial bounds a boot of a slot on trial from outside sysd: sysd's
// health gate decides within its own timeout, but only once sysd runs and
// user-data is applied. If no verdict comes within the trial timeout
// (sysd crash-looping, a bootcmd that hangs), PID 1 notes why on STATE
// and reboots, and the boot loader counts the try. While it waits it
// keeps the hardware watchdog, where there is one, so a hung kernel
// resets too.
func (p *pid1) watchTrial() {
	// systemd-boot sets LoaderBootCountPath only when the entry it booted
	// counts tries; its file name is the one renamed for this try.
	counted := efivar.LoaderBootCountPath(efivarsDir)
	entry := counted[strings.LastIndexAny(counted, `\/`)+1:]
	if !layout.CountingEntry(entry) {
		return
	}
	raw, _ := os.ReadFile(layout.UpdateConfigFile)
	timeout := layout.TrialTimeout(raw)
	deadline := time.Now().Add(timeout)
	p.log.Printf("trial: %s is on trial: PID 1 reboots if no health verdict comes within %v", entry, timeout)
	var wd *watchdog
	defer func() {
		if wd != nil {
			wd.disarm()
		}
	}()
	tick := time.NewTicker(trialTick)
	defer tick.Stop()
	for ; ; <-tick.C {
		if _, err := os.Stat(layout.TrialDecidedFile); err == nil {
			p.log.Printf("trial: verdict given; the deadline is off")
			return
		}
		if time.Now().After(deadline) {
			note := fmt.Sprintf("%s: no health verdict within %v (PID 1's trial deadline)", entry, timeout)
			if err := writeTrialNote(note); err != nil {
				p.log.Printf("trial: %v", err)
			}
			p.log.Printf("trial: %s: rebooting, the boot loader counts the try", note)
			// The watchdog stays armed and unfed: a shutdown that hangs
			// is reset within watchdogSecs.
			wd = nil
			p.request(shutdown.Reboot, "the trial deadline")
			return
		}
		if wd == nil {
			wd = openWatchdog(p.log.Printf)
		}
		wd.feed()
	}
}

// writeTrialNote leaves the reason on STATE for the updater's record.
func writeTrialNote(note string) error {
	if err := os.MkdirAll(layout.UpdateStateDir, 0o700); err != nil {
		return fmt.Errorf("note the trial deadline: %w", err)
	}
	return atomicfile.Write(filepath.Join(layout.UpdateStateDir, layout.TrialNoteName), []byte(note+"\n"), 0o600)
}

// watchdog is /dev/watchdog, open: it resets the machine unless fed.
type watchdog struct{ f *os.File }

// openWatchdog opens and arms the hardware watchdog, or returns nil when
// the machine has none (yet: its driver loads beside sysd).
func openWatchdog(logf func(string, ...any)) *watchdog {
	f, err := os.OpenFile(watchdogDev, os.O_WRONLY, 0)
	if err != nil {
		return nil
	}
	if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.WDIOC_SETTIMEOUT, watchdogSecs); err != nil {
		logf("trial: watchdog timeout: %v", err)
	}
	id, _ := os.ReadFile("/sys/class/watchdog/watchdog0/identity")
	logf("trial: hardware watchdog %s armed (%d s)", trimNL(id), watchdogSecs)
	return &watchdog{f}
}

func (w *watchdog) feed() {
	if w != nil {
		w.f.Write([]byte{0})
	}
}

// disarm is the magic close: 'V' then close stops the timer.
func (w *watchdog) disarm() {
	w.f.Write([]byte("V"))
	w.f.Close()
}

func trimNL(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == 0) {
		b = b[:len(b)-1]
	}
	return string(b)
}
