// Package osrelease reads and writes /etc/os-release (os-release(5)).
package osrelease

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Parse returns the KEY=value pairs, with shell quoting removed.
func Parse(r io.Reader) map[string]string {
	m := map[string]string{}
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `'`)
		}
		m[k] = v
	}
	return m
}

// Version returns VERSION_ID of the os-release file at path, or "unknown".
func Version(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	if v := Parse(f)["VERSION_ID"]; v != "" {
		return v
	}
	return "unknown"
}

// Render writes Berth's os-release for version.
func Render(version string) string {
	return fmt.Sprintf(`NAME="Berth"
ID=berth
PRETTY_NAME="Berth %[1]s"
VERSION=%[1]q
VERSION_ID=%[1]q
HOME_URL="https://berth.dev/"
`, version)
}
