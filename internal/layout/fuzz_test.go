package layout

import (
	"testing"
	"time"
)

// update.json is written from user-data; PID 1 reads it at boot.
func FuzzTrialTimeout(f *testing.F) {
	f.Add([]byte(`{"trial_timeout":"90s"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d := TrialTimeout(b); d < time.Minute {
			t.Fatalf("%q: %v is below the floor", b, d)
		}
	})
}
