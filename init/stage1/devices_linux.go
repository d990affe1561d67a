package stage1

import (
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"berth.dev/berth/internal/blockdev"
	"berth.dev/berth/internal/kmod"
)

// settleTime is how long stage 1 waits for the boot disk after the last
// sign of progress (a driver loaded, a device appeared): a SCSI bus scan
// or a USB stick's enumeration takes seconds, but unknown hardware must
// not hang the boot.
const settleTime = 15 * time.Second

// findPartitions loads the modules every boot needs (file systems,
// dm-verity: the initramfs's list), then the drivers of the devices the
// machine has, round after round as buses reveal more devices, until the
// partitions with the given labels appear. Only the drivers a device
// asks for are loaded: under emulation every module costs time. When the
// labels never appear it returns what it found and the devices that no
// driver claimed. A module that fails is named and boot goes on: the
// device it serves may not be needed.
func findPartitions(l *log.Logger, labels ...string) (map[string]string, []kmod.Device) {
	if raw, err := os.ReadFile(modulesList); err != nil {
		l.Printf("modules: %v", err)
	} else {
		for _, group := range kmod.Groups(kmod.ParseList(string(raw))) {
			for _, err := range kmod.LoadAll(group) {
				l.Print(err)
			}
		}
	}
	cp, err := kmod.NewColdplug(0)
	if err != nil {
		l.Printf("drivers: %v: only the fixed list is loaded", err)
		cp = &kmod.Coldplug{Sysfs: "/sys", Matcher: kmod.Aliases(nil).Matcher()}
	}
	var all []string
	rounds, seen := 0, -1
	progress := time.Now()
	for {
		devs, loaded, errs := cp.Round()
		for _, err := range errs {
			l.Print(err)
		}
		if len(loaded) > 0 {
			rounds++
			all = append(all, loaded...)
		}
		if len(loaded) > 0 || len(devs) != seen {
			seen, progress = len(devs), time.Now()
		}
		found := blockdev.ByLabel("/sys/class/block")
		if hasAll(found, labels) {
			// Devices found beside the disk (a NoCloud CD-ROM on its
			// controller) get their drivers now, so that sysd's first
			// search for user-data finds them.
			_, loaded, _ := cp.Round()
			all = append(all, loaded...)
			l.Printf("drivers: %s (for %d devices, %d rounds)", strings.Join(all, " "), seen, rounds)
			return found, nil
		}
		if time.Since(progress) > settleTime {
			l.Printf("drivers: %s (for %d devices, %d rounds); nothing new for %v", strings.Join(all, " "), seen, rounds, settleTime)
			var unclaimed []kmod.Device
			for _, d := range devs {
				if d.Unclaimed() {
					unclaimed = append(unclaimed, d)
				}
			}
			return found, unclaimed
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// describeUnclaimed names the devices without a driver, for the message
// of a boot that found no disk: the controller it needs is among them.
func describeUnclaimed(devs []kmod.Device) string {
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
