//go:build !linux

package console

// SinceBootMS is unknown off Linux.
func SinceBootMS() int64 { return -1 }
