//go:build linux

// Command sysd is Berth's system daemon; PID 1 starts and supervises it.
// The same binary is os-ctl (installed as a link); it can also be a
// system container's first process, though the image uses the smaller
// berth-container-init for that.
package main

import (
	"os"
	"path/filepath"

	"berth.dev/berth/sysd"
	"berth.dev/berth/sysd/container"
	"berth.dev/berth/sysd/osctl"
)

func main() {
	switch filepath.Base(os.Args[0]) {
	case container.InitName:
		container.Init()
	case "os-ctl":
		os.Exit(osctl.Main(osctl.FromOS()))
	}
	os.Exit(sysd.Main(os.Stdout))
}
