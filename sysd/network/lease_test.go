package network

import (
	"testing"
	"time"
)

func TestLeaseSteps(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := Timers{Start: t0, Lease: time.Hour} // no T1/T2: 30 min and 52.5 min
	for _, tc := range []struct {
		at   time.Duration
		step Step
		next time.Duration
	}{
		{0, Renew, 30 * time.Minute},
		{30 * time.Minute, Renew, 41*time.Minute + 15*time.Second}, // halfway to T2
		{52 * time.Minute, Renew, 52*time.Minute + 30*time.Second}, // a minute, but not past T2
		{52*time.Minute + 30*time.Second, Rebind, 56*time.Minute + 15*time.Second},
		{59*time.Minute + 30*time.Second, Rebind, 60 * time.Minute},
		{60 * time.Minute, Expire, 60 * time.Minute},
		{2 * time.Hour, Expire, 60 * time.Minute},
	} {
		step, at := l.Next(t0.Add(tc.at))
		if step != tc.step || at != t0.Add(tc.next) {
			t.Errorf("at %v: %v at %v, want %v at %v", tc.at, step, at.Sub(t0), tc.step, tc.next)
		}
	}
	// Server-given T1 and T2.
	l = Timers{Start: t0, Lease: time.Hour, T1: 10 * time.Minute, T2: 20 * time.Minute}
	if step, at := l.Next(t0); step != Renew || at != t0.Add(10*time.Minute) {
		t.Errorf("T1: %v %v", step, at.Sub(t0))
	}
	if step, _ := l.Next(t0.Add(21 * time.Minute)); step != Rebind {
		t.Errorf("after T2: %v", step)
	}
}
