//go:build !linux

package main

func main() { panic("berth-init runs on Linux only") }
