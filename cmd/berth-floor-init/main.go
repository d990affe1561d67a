//go:build linux

// Command berth-floor-init is the benchmark's floor: the smallest Go init
// that prints a line and powers off. Booted with the same kernel and QEMU
// settings as Berth, it shows what any Go init costs before doing anything.
package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	fmt.Fprintln(os.Stdout, "floor: first line")
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	time.Sleep(time.Hour)
}
