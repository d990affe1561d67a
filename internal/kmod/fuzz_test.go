package kmod

import (
	"strings"
	"testing"
)

// modules.alias, modules.dep, modules.builtin and the module lists come
// with the kernel package, and modprobe's arguments from the kernel's
// request: outside input.
func FuzzParseAliases(f *testing.F) {
	f.Add("alias pci:v00008086d*sv*sd*bc02sc00i* e1000e\nalias fs-vfat vfat\n# comment\n")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAliases(strings.NewReader(s))
		if err == nil {
			a.Matcher().Match("pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00")
		}
		tr := &Tree{alias: []byte(s), dep: []byte(s), builtin: []byte(s)}
		tr.Resolve("pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00")
		tr.Module("e1000e")
		tr.Builtin("vfat")
		ParseList(s)
		parseModprobeArgs(strings.Fields(s))
	})
}
