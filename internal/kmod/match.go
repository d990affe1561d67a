package kmod

import (
	"path"
	"sort"
	"strings"
)

// Matcher finds the modules whose modules.alias patterns match a device's
// modalias, as udev's kmod builtin does. The root's modules.alias has
// about ten thousand patterns and a machine a few hundred devices: the
// patterns are filed under their literal prefix (everything before the
// first wildcard), so a modalias is tried only against the patterns that
// can match it, which keeps a coldplug round cheap under emulation.
type Matcher struct {
	byPrefix map[string][]alias
}

// Matcher indexes the aliases for Match.
func (a Aliases) Matcher() *Matcher {
	m := &Matcher{byPrefix: map[string][]alias{}}
	for _, al := range a {
		p := literalPrefix(al.pattern)
		m.byPrefix[p] = append(m.byPrefix[p], al)
	}
	return m
}

// globMeta are the bytes that end a glob pattern's literal prefix.
const globMeta = `*?[\`

// literalPrefix is the part of a glob pattern before its first
// wildcard, escape or bracket.
func literalPrefix(pattern string) string {
	if i := strings.IndexAny(pattern, globMeta); i >= 0 {
		return pattern[:i]
	}
	return pattern
}

// Match returns the modules that serve the modalias, sorted, without
// repeats; none when no pattern matches.
func (m *Matcher) Match(modalias string) []string {
	if modalias == "" {
		return nil
	}
	seen := map[string]bool{}
	for i := 0; i <= len(modalias); i++ {
		for _, al := range m.byPrefix[modalias[:i]] {
			if seen[al.module] {
				continue
			}
			if ok, _ := path.Match(al.pattern, modalias); ok {
				seen[al.module] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for mod := range seen {
		out = append(out, mod)
	}
	sort.Strings(out)
	return out
}

// Wanted returns the modules that match one of the devices and are not in
// tried, sorted: what a coldplug round loads.
func (m *Matcher) Wanted(devs []Device, tried map[string]bool) []string {
	want := map[string]bool{}
	for _, d := range devs {
		for _, mod := range m.Match(d.Modalias) {
			if !tried[mod] {
				want[mod] = true
			}
		}
	}
	out := make([]string, 0, len(want))
	for mod := range want {
		out = append(out, mod)
	}
	sort.Strings(out)
	return out
}
