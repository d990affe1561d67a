package tests

import (
	"testing"
	"time"
)

// The fleet's probe tally: a stall of a few rounds is a short span, two
// reboots at once a long one; the admin's window breaks spans.
func TestTallySpans(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)
	var rounds []probeRound
	add := func(sec int, failed ...string) {
		rounds = append(rounds, probeRound{at: t0.Add(time.Duration(sec) * time.Second), failed: failed})
	}
	add(0)
	add(1, "a")
	add(2, "a", "b") // a 10 s stall of b beside a powered-off a
	add(7, "a", "b")
	add(12, "a", "b")
	add(13, "a")
	add(20, "b", "c") // two rebooting at once: 46 s
	add(40, "b", "c")
	add(65, "b", "c")
	add(66, "a", "b", "c")
	add(100, "a", "b") // in the window
	add(101, "a", "b") // after it: a new span
	window := func(at time.Time) bool { return at.Equal(t0.Add(100 * time.Second)) }
	st := tally(rounds, 3, window)
	if st.answered != len(rounds)-1 || st.silent != 21 || st.mostDown != 3 {
		t.Errorf("answered %d, silent %d, most down %d; want %d, 21, 3", st.answered, st.silent, st.mostDown, len(rounds)-1)
	}
	want := []time.Duration{10 * time.Second, 46 * time.Second, 0}
	if len(st.twoSilent) != len(want) {
		t.Fatalf("spans %+v, want %d", st.twoSilent, len(want))
	}
	for i, sp := range st.twoSilent {
		if sp.d != want[i] {
			t.Errorf("span %d from %s: %s, want %s", i, sp.from.Format(time.TimeOnly), sp.d, want[i])
		}
	}
	if long := st.twoSilent[1]; long.d < twoDown || len(long.failed) != 3 {
		t.Errorf("two reboots at once: %+v, want at least %s with all three silent last", long, twoDown)
	}
	if st.twoSilent[0].d >= twoDown {
		t.Errorf("a 10 s stall counts as two machines down: %+v", st.twoSilent[0])
	}
}
