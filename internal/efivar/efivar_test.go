package efivar

import "testing"

func TestDecodeEFIString(t *testing.T) {
	raw := []byte{6, 0, 0, 0}
	for _, r := range "berth-a.conf" {
		raw = append(raw, byte(r), 0)
	}
	raw = append(raw, 0, 0)
	if got := DecodeEFIString(raw); got != "berth-a.conf" {
		t.Fatalf("got %q", got)
	}
	if DecodeEFIString([]byte{1}) != "" {
		t.Fatal("short input")
	}
}
