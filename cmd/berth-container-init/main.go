//go:build linux

// Command berth-container-init is the first process of every system
// container: sysd executes it in the new namespaces, it builds the
// container's file systems and executes the service. It is a binary of
// its own, apart from sysd, because under emulation a Go program's start
// costs in proportion to what it links and initialises, and this one
// links little.
package main

import "berth.dev/berth/sysd/container"

func main() { container.Init() }
