package sysd

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// Meminfo returns /proc/meminfo's values in kB.
func Meminfo(r io.Reader) map[string]int64 {
	m := map[string]int64{}
	s := bufio.NewScanner(r)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			m[k] = n
		}
	}
	return m
}
