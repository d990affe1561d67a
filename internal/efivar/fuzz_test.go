package efivar

import "testing"

// EFI variables are written by firmware and boot loaders.
func FuzzDecodeEFIString(f *testing.F) {
	f.Add([]byte{6, 0, 0, 0, 'b', 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) { DecodeEFIString(b) })
}
