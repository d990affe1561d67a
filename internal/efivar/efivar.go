// Package efivar reads the Boot Loader Interface variables systemd-boot sets.
package efivar

import (
	"encoding/binary"
	"os"
	"strings"
	"unicode/utf16"
)

// loaderVendor is the vendor GUID of the Boot Loader Interface variables
// systemd-boot sets.
const loaderVendor = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"

// DecodeEFIString decodes an efivarfs file holding a UTF-16LE string: four
// bytes of attributes, then the string, NUL-terminated.
func DecodeEFIString(b []byte) string {
	if len(b) < 4 {
		return ""
	}
	b = b[4:]
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		u = append(u, binary.LittleEndian.Uint16(b[i:]))
	}
	return strings.TrimRight(string(utf16.Decode(u)), "\x00")
}

// LoaderEntrySelected is the boot entry systemd-boot booted, or "" when
// the machine did not boot through it. For an entry with a boot counter
// it is the file's name before this boot's try was counted.
func LoaderEntrySelected(efivars string) string { return get(efivars, "LoaderEntrySelected") }

// LoaderBootCountPath is the ESP path of the entry file systemd-boot
// booted, as renamed for this try (\loader\entries\berth-b+2-1.conf),
// set only when that entry counts tries: "" means no boot counting.
func LoaderBootCountPath(efivars string) string { return get(efivars, "LoaderBootCountPath") }

func get(efivars, name string) string {
	b, err := os.ReadFile(efivars + "/" + name + "-" + loaderVendor)
	if err != nil {
		return ""
	}
	return DecodeEFIString(b)
}
