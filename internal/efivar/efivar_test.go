package efivar

import (
	"os"
	"testing"
)

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

func TestLoaderVariables(t *testing.T) {
	dir := t.TempDir()
	if LoaderBootCountPath(dir) != "" || LoaderEntrySelected(dir) != "" {
		t.Fatal("no variables read as set")
	}
	enc := func(s string) []byte {
		b := []byte{6, 0, 0, 0}
		for _, r := range s {
			b = append(b, byte(r), 0)
		}
		return append(b, 0, 0)
	}
	os.WriteFile(dir+"/LoaderBootCountPath-"+loaderVendor, enc(`\loader\entries\berth-b+0-1.conf`), 0o644)
	if got := LoaderBootCountPath(dir); got != `\loader\entries\berth-b+0-1.conf` {
		t.Fatalf("got %q", got)
	}
}
