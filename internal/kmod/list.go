package kmod

import "strings"

// ParseList reads a module list: one name a line, "#" comments, and "-"
// alone on a line as a barrier (everything above loads first).
func ParseList(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// DoneFile is created by PID 1 when it has loaded the root's module list,
// so that sysd knows when devices that need those modules have appeared.
const DoneFile = "/run/berth/modules-loaded"
