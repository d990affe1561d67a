//go:build linux

// Command berth-ctbench times system container starts inside a Berth VM,
// sysd's runtime beside runc; berth-bench puts it on a disk of its own.
package main

import (
	"os"
	"path/filepath"

	"berth.dev/berth/sysd/container"
	"berth.dev/berth/sysd/container/startbench"
)

func main() {
	if filepath.Base(os.Args[0]) == container.InitName {
		container.Init()
	}
	os.Exit(startbench.Main(os.Args[1:], os.Stdout))
}
