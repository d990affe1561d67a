package unit

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseTimespan reads a systemd time span (systemd.time(7)): "5", "5s",
// "1min 30s", "100ms", "2h", "infinity". A bare number is seconds.
func ParseTimespan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "infinity" {
		return time.Duration(math.MaxInt64), nil
	}
	if s == "" {
		return 0, fmt.Errorf("empty time span")
	}
	if isDecimal(s) {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a time span", s)
		}
		return checkedSpan(s, n, time.Second)
	}
	var total time.Duration
	rest := strings.ReplaceAll(s, " ", "")
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("%q is not a time span", s)
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a time span", s)
		}
		rest = rest[i:]
		j := 0
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') && rest[j] != '.' {
			j++
		}
		unit, ok := timeUnits[rest[:j]]
		if !ok {
			return 0, fmt.Errorf("%q: unknown time unit %q (use us, ms, s, min, h, d)", s, rest[:j])
		}
		d, err := checkedSpan(s, n, unit)
		if err != nil {
			return 0, err
		}
		if total += d; total < 0 || total > maxSpan {
			return 0, fmt.Errorf("%q is too long (at most 100 years, or infinity)", s)
		}
		rest = rest[j:]
	}
	return total, nil
}

// maxSpan is the longest finite time span a unit may give; beyond it,
// write infinity. It keeps n×unit clear of int64's overflow.
const maxSpan = 100 * 365 * 24 * time.Hour

// isDecimal reports whether s is digits with at most one point: what
// strconv.ParseFloat alone would also read as NaN, Inf, 1e300 or -5.
func isDecimal(s string) bool {
	points := 0
	for _, c := range s {
		switch {
		case c == '.':
			points++
		case c < '0' || c > '9':
			return false
		}
	}
	return points <= 1 && s != "."
}

// checkedSpan is n units, refused when it is too long to be meant.
func checkedSpan(s string, n float64, unit time.Duration) (time.Duration, error) {
	v := n * float64(unit)
	if v > float64(maxSpan) {
		return 0, fmt.Errorf("%q is too long (at most 100 years, or infinity)", s)
	}
	return time.Duration(v), nil
}

var timeUnits = map[string]time.Duration{
	"us": time.Microsecond, "usec": time.Microsecond,
	"ms": time.Millisecond, "msec": time.Millisecond,
	"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// ParseBytes reads a systemd size ("512M", "1G", "1048576", "infinity":
// -1) with base-1024 suffixes K, M, G, T.
func ParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "infinity" {
		return -1, nil
	}
	mult := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'K', 'k':
			mult = 1 << 10
		case 'M', 'm':
			mult = 1 << 20
		case 'G', 'g':
			mult = 1 << 30
		case 'T', 't':
			mult = 1 << 40
		}
		if mult != 1 {
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil || int64(n) > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return int64(n) * mult, nil
}

// ParseBool reads systemd's booleans.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "yes", "y", "true", "t", "on":
		return true, nil
	case "0", "no", "n", "false", "f", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (use yes or no)", s)
}

// distance is the Levenshtein distance, for "did you mean".
func distance(a, b string) int {
	a, b = strings.ToLower(a), strings.ToLower(b)
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Suggest returns the closest of known to s, if close enough.
func Suggest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := distance(s, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// FormatBytes writes n as ParseBytes reads it, in the largest whole unit:
// 16777216 is "16M"; -1 is "infinity".
func FormatBytes(n int64) string {
	if n < 0 {
		return "infinity"
	}
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.suffix)
		}
	}
	return fmt.Sprint(n)
}
