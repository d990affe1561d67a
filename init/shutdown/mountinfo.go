// Package shutdown brings the machine down: unmount what can be unmounted,
// make the rest read-only, sync, and power off or reboot.
package shutdown

import (
	"bufio"
	"io"
	"strings"
)

// Mount is one line of /proc/self/mountinfo, reduced to what teardown needs.
type Mount struct {
	Target, FSType, Source string
}

// ParseMountinfo returns the mounts in the order the kernel lists them
// (parents before children).
func ParseMountinfo(r io.Reader) []Mount {
	var out []Mount
	s := bufio.NewScanner(r)
	for s.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		pre, post, ok := strings.Cut(s.Text(), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 2 {
			continue
		}
		out = append(out, Mount{Target: unescape(f[4]), FSType: g[0], Source: unescape(g[1])})
	}
	return out
}

// unescape undoes the kernel's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, ok := octal(s[i+1 : i+4]); ok {
				b.WriteByte(n)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal(s string) (byte, bool) {
	if len(s) != 3 {
		return 0, false
	}
	var n int
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, false
		}
		n = n*8 + int(c-'0')
	}
	return byte(n), true
}

// keep lists the mounts teardown leaves alone: the root and the kernel's
// API file systems, which hold no data and are needed until the end.
var keep = map[string]bool{"/": true, "/proc": true, "/sys": true, "/dev": true}

// TeardownOrder returns the targets to unmount, children first.
func TeardownOrder(ms []Mount) []string {
	var out []string
	for i := len(ms) - 1; i >= 0; i-- {
		if !keep[ms[i].Target] {
			out = append(out, ms[i].Target)
		}
	}
	return out
}
