package timesync

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/beevik/ntp"
)

func TestDecide(t *testing.T) {
	for off, want := range map[time.Duration]Action{
		0: Nothing, 500 * time.Microsecond: Nothing, 50 * time.Millisecond: Slew, -50 * time.Millisecond: Slew,
		time.Second: Step, -time.Hour: Step,
	} {
		if got := Decide(off); got != want {
			t.Errorf("Decide(%v) = %v, want %v", off, got, want)
		}
	}
}

func TestSyncerSkipsABadServerAndSteps(t *testing.T) {
	adjusted := make(chan time.Duration, 1)
	var logs []string
	s := &Syncer{
		Servers: []string{"bad", "good"},
		Logf:    func(f string, a ...any) { logs = append(logs, f) },
		Query: func(server string) (*ntp.Response, error) {
			if server == "bad" {
				return nil, errors.New("no answer")
			}
			return &ntp.Response{ClockOffset: time.Hour, Stratum: 2, Leap: ntp.LeapNoWarning,
				RTT: time.Millisecond, Time: time.Now(), ReferenceTime: time.Now().Add(-time.Second)}, nil
		},
		Adjust: func(a Action, off time.Duration) error {
			if a != Step {
				t.Errorf("action %v", a)
			}
			adjusted <- off
			return nil
		},
	}
	online := make(chan struct{})
	close(online)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, online)
	select {
	case off := <-adjusted:
		if off != time.Hour {
			t.Errorf("offset %v", off)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the clock was not adjusted")
	}
}
