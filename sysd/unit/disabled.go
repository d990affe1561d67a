package unit

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"berth.dev/berth/internal/atomicfile"
)

// The disabled list (/etc/berth/disabled-services) names the services that
// do not start: what os-ctl service disable and user-data's berth.services
// say. The supervisor reads it; user-data and os-ctl write it.

// ReadDisabled reads the names listed in file (one per line).
func ReadDisabled(file string) map[string]bool {
	out := map[string]bool{}
	b, _ := os.ReadFile(file)
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out[l] = true
		}
	}
	return out
}

// SetDisabled changes the disabled state of the named services in file
// (true: disabled) and writes it atomically.
func SetDisabled(file string, changes map[string]bool) error {
	disabled := ReadDisabled(file)
	for n, d := range changes {
		if d {
			disabled[n] = true
		} else {
			delete(disabled, n)
		}
	}
	var names []string
	for n := range disabled {
		names = append(names, n)
	}
	sort.Strings(names)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	data := "# services disabled with os-ctl service disable or user-data's berth.services\n" + strings.Join(names, "\n") + "\n"
	return atomicfile.Write(file, []byte(data), 0o644)
}
