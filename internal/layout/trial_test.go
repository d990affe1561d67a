package layout

import (
	"testing"
	"time"
)

func TestTrialTimeout(t *testing.T) {
	for in, want := range map[string]time.Duration{
		``: DefaultTrialTimeout, `{}`: DefaultTrialTimeout, `{"trial_timeout":"90s"}`: 90 * time.Second,
		`{"trial_timeout":"5s"}`: time.Minute, `{"trial_timeout":"soon"}`: DefaultTrialTimeout,
		`{"trial_timeout":"-5m"}`: DefaultTrialTimeout, `not json`: DefaultTrialTimeout,
	} {
		if got := TrialTimeout([]byte(in)); got != want {
			t.Errorf("%s: %v, want %v", in, got, want)
		}
	}
	for name, want := range map[string]bool{"berth-a.conf": false, "berth-b+3.conf": true, "berth-b+0-3.conf": true, "other+1.conf": false} {
		if CountingEntry(name) != want {
			t.Errorf("%s: %v", name, !want)
		}
	}
}
