package machine

import (
	"bufio"
	"io"
	"os"
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

// Memory returns the machine's used and total memory in kB.
func Memory() (used, total int64) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	m := Meminfo(f)
	return m["MemTotal"] - m["MemAvailable"], m["MemTotal"]
}

// SelfRSS is the calling process's resident memory in kB (VmRSS).
func SelfRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	return Meminfo(f)["VmRSS"]
}
