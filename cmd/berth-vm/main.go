// Command berth-vm boots a Berth disk image in QEMU on this terminal's
// serial console (`make run`) and logs in to it (`berth-vm ssh`, `make
// ssh`). Ctrl-A X quits QEMU; Ctrl-A C opens its monitor.
package main

import (
	"os"

	"berth.dev/berth/qemu/runvm"
)

func main() { os.Exit(runvm.Main(os.Args[1:], os.Stdout, os.Stderr)) }
