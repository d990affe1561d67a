//go:build linux

// Command sysd is Berth's system daemon; PID 1 starts and supervises it.
package main

import (
	"os"

	"berth.dev/berth/sysd"
)

func main() { os.Exit(sysd.Main(os.Stdout)) }
