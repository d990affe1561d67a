//go:build linux

// Command berth-init is Berth's init: stage 1 as /init in the initramfs,
// stage 2 as /sbin/init on the root, and the kernel's /sbin/modprobe.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"berth.dev/berth/init/pid1"
	"berth.dev/berth/init/stage1"
	"berth.dev/berth/internal/kmod"
)

func main() {
	switch name := os.Args[0]; {
	case filepath.Base(name) == "modprobe":
		os.Exit(kmod.Modprobe(os.Args[1:], os.Stderr))
	case os.Getpid() != 1:
		fmt.Fprintf(os.Stderr, "%s: not PID 1; this binary is the init of a Berth machine\n", name)
		os.Exit(2)
	case name == "/init":
		stage1.Main()
	default:
		pid1.Main()
	}
}
