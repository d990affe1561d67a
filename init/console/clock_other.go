//go:build !linux

package console

func sinceBootMS() int64 { return -1 }

// SinceBootMS is exported for the ready line.
func SinceBootMS() int64 { return -1 }
