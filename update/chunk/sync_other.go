//go:build !linux

package chunk

// Sync is a no-op where syncfs is not: the machine's updater runs on
// Linux, and the publisher needs no durability (see putStored).
func (s Store) Sync() error { return nil }
