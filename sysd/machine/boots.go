// Package sysd is the system daemon: it brings the machine from "root
// mounted" to "ready" and keeps it there.
package machine

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Boot is one line of the boot history kept on STATE.
type Boot struct {
	N       int
	ID      string // the kernel's random boot_id
	Version string
	Slot    string
}

func (b Boot) line() string {
	return fmt.Sprintf("%d %s %s %s\n", b.N, b.ID, b.Version, b.Slot)
}

// ParseBoots reads the history; malformed lines are skipped, since the
// file is ours and a torn last line after a power cut must not matter.
func ParseBoots(r io.Reader) []Boot {
	var out []Boot
	s := bufio.NewScanner(r)
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) != 4 {
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		out = append(out, Boot{N: n, ID: f[1], Version: f[2], Slot: f[3]})
	}
	return out
}

// RecordBoot appends this boot to the history at path unless it is there
// already (sysd restarted within the same boot) and returns its entry.
func RecordBoot(path, bootID, version, slot string) (Boot, error) {
	var hist []Boot
	if f, err := os.Open(path); err == nil {
		hist = ParseBoots(f)
		f.Close()
	}
	if n := len(hist); n > 0 && hist[n-1].ID == bootID {
		return hist[n-1], nil
	}
	b := Boot{N: 1, ID: bootID, Version: version, Slot: slot}
	if n := len(hist); n > 0 {
		b.N = hist[n-1].N + 1
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return b, fmt.Errorf("record boot: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return b, fmt.Errorf("record boot in %s: %w", path, err)
	}
	defer f.Close()
	if _, err := f.WriteString(b.line()); err != nil {
		return b, fmt.Errorf("record boot in %s: %w", path, err)
	}
	return b, f.Sync()
}
