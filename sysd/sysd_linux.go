package sysd

import (
	"berth.dev/berth/init/console"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"golang.org/x/sys/unix"

	"berth.dev/berth/init/cmdline"
	"berth.dev/berth/init/osrelease"
)

// Paths on the running system.
const (
	machineIDPath = "/etc/machine-id"
	bootsPath     = "/var/lib/berth/boots"
	bootIDPath    = "/proc/sys/kernel/random/boot_id"
)

// Main runs sysd until SIGTERM and returns the exit status.
func Main(stdout io.Writer) int {
	l := console.Logger(stdout)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT)

	version := osrelease.Version("/etc/os-release")
	raw, _ := os.ReadFile("/proc/cmdline")
	slot, err := cmdline.Parse(string(raw)).Slot()
	if err != nil {
		l.Printf("sysd: %v", err)
		slot = "?"
	}
	l.Printf("sysd starting pid=%d", os.Getpid())

	id, err := EnsureMachineID(machineIDPath)
	if err != nil {
		l.Printf("sysd: %v", err)
	}
	bootID, _ := os.ReadFile(bootIDPath)
	b, err := RecordBoot(bootsPath, strings.TrimSpace(string(bootID)), version, slot)
	if err != nil {
		l.Printf("sysd: %v", err)
	}
	l.Printf("boot n=%d machine-id=%s", b.N, id)
	if e := LoaderEntrySelected("/sys/firmware/efi/efivars"); e != "" {
		l.Printf("boot loader entry=%s", e)
	}

	// The readiness line is a stable, machine-readable contract: tests and
	// the benchmark match it exactly.
	fmt.Fprintf(stdout, "berth: ready version=%s slot=%s boot_ms=%d\n", version, slot, console.SinceBootMS())
	if f, err := os.Open("/proc/meminfo"); err == nil {
		m := Meminfo(f)
		f.Close()
		l.Printf("memory used_kb=%d total_kb=%d", m["MemTotal"]-m["MemAvailable"], m["MemTotal"])
	}

	s := <-sigs
	l.Printf("sysd stopping (%v)", s)
	return 0
}
