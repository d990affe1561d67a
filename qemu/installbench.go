package qemu

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// InstallSample is one measured unattended install from the ISO.
type InstallSample struct {
	LiveReady time.Duration // QEMU start → the live system's ready line
	Install   time.Duration // the installer's own count, checks to STATE
	Installed time.Duration // QEMU start → the installed machine's ready line
}

// MeasureInstall boots the build's ISO on a machine with a blank 8 GiB
// SATA disk first in its boot order, lets berth.install (from fw_cfg)
// install and reboot, and times it until the installed machine is ready.
func MeasureInstall(b Build, dir string) (InstallSample, error) {
	var s InstallSample
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return s, err
	}
	disk := filepath.Join(dir, "blank.raw")
	if err := BlankDisk(disk, 8<<30); err != nil {
		return s, err
	}
	ud := filepath.Join(dir, "user-data")
	if err := os.WriteFile(ud, []byte("#cloud-config\nberth:\n  install: {disk: /dev/sda, reboot: true}\n"), 0o644); err != nil {
		return s, err
	}
	vm, err := Start(Config{Disk: disk, Dir: filepath.Join(dir, "vm"), MemoryMB: 1024,
		Hardware: Hardware{Disk: "ahci", Installer: filepath.Join(b.Dir, "images", "berth.iso")},
		Extra:    []string{"-fw_cfg", "name=opt/berth/user-data,file=" + ud}})
	if err != nil {
		return s, err
	}
	defer vm.Kill()
	expect := func(re string, timeout time.Duration) ([]string, time.Duration, error) {
		l, m, err := vm.Console.Expect(regexp.MustCompile(re), timeout)
		if err != nil {
			return nil, 0, fmt.Errorf("%w\n%s", err, vm.Console.Tail(30))
		}
		return m, l.At.Sub(vm.Started()), nil
	}
	if _, s.LiveReady, err = expect(`^berth: ready version=\S+ slot=live `, 5*time.Minute); err != nil {
		return s, err
	}
	m, _, err := expect(`^berth: install: done: Berth \S+ installed on /dev/sda in ([\d.]+)s$`, 10*time.Minute)
	if err != nil {
		return s, err
	}
	secs, _ := strconv.ParseFloat(m[1], 64)
	s.Install = time.Duration(secs * float64(time.Second))
	_, s.Installed, err = expect(`^berth: ready version=\S+ slot=A `, 5*time.Minute)
	return s, err
}
