// Command berth-vm boots a Berth disk image in QEMU on this terminal's
// serial console (`make run`). Ctrl-A X quits QEMU; Ctrl-A C opens its
// monitor.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"berth.dev/berth/qemu"
)

func main() {
	build := flag.String("build", "build", "build directory of `make image`")
	direct := flag.String("direct", "", "boot this slot (A or B) with -kernel/-initrd instead of OVMF and systemd-boot")
	ssh := flag.Int("ssh", 2222, "host port forwarded to the guest's SSH port")
	mem := flag.Int("m", 1024, "memory in MiB")
	cpus := flag.Int("smp", 2, "virtual CPUs")
	keep := flag.Bool("keep", false, "boot the machine of the previous run again instead of a fresh one")
	flag.Parse()

	dir := filepath.Join(*build, "run")
	if !*keep {
		os.RemoveAll(dir)
	}
	b := qemu.BuildAt(*build)
	cfg := qemu.Config{Disk: b.Disk}
	if *direct != "" {
		cfg = b.Direct(*direct)
	}
	cfg.Dir, cfg.MemoryMB, cfg.CPUs, cfg.Interactive = dir, *mem, *cpus, true
	cfg.Forwards = []qemu.Forward{{Host: *ssh, Guest: 22}}
	vm, err := qemu.Start(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-vm:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "berth-vm: %s\nberth-vm: Ctrl-A X quits\n", vm.CommandLine())
	if err := vm.Wait(1 << 62); err != nil {
		fmt.Fprintln(os.Stderr, "berth-vm:", err)
		os.Exit(1)
	}
}
