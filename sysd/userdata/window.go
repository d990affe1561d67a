package userdata

import (
	"fmt"
	"strings"
	"time"
)

// Window is a time span in UTC on some days of the week; End before
// Start spans midnight (the day is the one it starts on).
type Window struct {
	Start, End time.Duration
	Days       [7]bool // by time.Weekday; all true when none are named
}

var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseWindow reads "[DAYS ]HH:MM-HH:MM", DAYS being names or ranges
// separated by commas: "02:00-04:00", "Sun 02:00-04:00", "Mon-Fri 22:00-02:00".
func ParseWindow(s string) (Window, error) {
	var w Window
	f := strings.Fields(s)
	if len(f) == 0 || len(f) > 2 {
		return w, fmt.Errorf("reboot window %q: want [DAYS ]HH:MM-HH:MM", s)
	}
	if len(f) == 2 {
		for _, part := range strings.Split(strings.ToLower(f[0]), ",") {
			a, b, isRange := strings.Cut(part, "-")
			i, j := dayIndex(a), dayIndex(b)
			if !isRange {
				j = i
			}
			if i < 0 || j < 0 {
				return w, fmt.Errorf("reboot window %q: %q is not a day (Mon … Sun)", s, part)
			}
			for d := i; ; d = (d + 1) % 7 {
				w.Days[d] = true
				if d == j {
					break
				}
			}
		}
	} else {
		for i := range w.Days {
			w.Days[i] = true
		}
	}
	var h1, m1, h2, m2 int
	if n, err := fmt.Sscanf(f[len(f)-1], "%d:%d-%d:%d", &h1, &m1, &h2, &m2); err != nil || n != 4 ||
		h1 > 23 || h2 > 23 || m1 > 59 || m2 > 59 || h1 < 0 || h2 < 0 || m1 < 0 || m2 < 0 {
		return w, fmt.Errorf("reboot window %q: want [DAYS ]HH:MM-HH:MM", s)
	}
	w.Start = time.Duration(h1)*time.Hour + time.Duration(m1)*time.Minute
	w.End = time.Duration(h2)*time.Hour + time.Duration(m2)*time.Minute
	if w.Start == w.End {
		return w, fmt.Errorf("reboot window %q is empty", s)
	}
	return w, nil
}

func dayIndex(s string) int {
	for i, d := range weekdays {
		if len(s) >= 3 && strings.HasPrefix(s, d) {
			return i
		}
	}
	return -1
}

// Next is the first moment at or after t inside the window.
func (w Window) Next(t time.Time) time.Time {
	t = t.UTC()
	day := t.Truncate(24 * time.Hour)
	off := t.Sub(day)
	today, yesterday := t.Weekday(), (t.Weekday()+6)%7
	switch {
	case w.Start < w.End && w.Days[today] && off >= w.Start && off < w.End,
		w.Start > w.End && w.Days[today] && off >= w.Start,
		w.Start > w.End && w.Days[yesterday] && off < w.End:
		return t
	}
	for d := 0; d <= 7; d++ {
		start := day.Add(time.Duration(d)*24*time.Hour + w.Start)
		if start.After(t) && w.Days[start.Weekday()] {
			return start
		}
	}
	return t // no day named: cannot happen after ParseWindow
}
