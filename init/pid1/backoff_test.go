package pid1

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 5 * time.Second, Reset: time.Minute}
	var got []time.Duration
	for _, ran := range []time.Duration{0, 0, 0, 0, 0, 2 * time.Minute, 0} {
		got = append(got, b.Next(ran))
	}
	want := []time.Duration{1, 2, 4, 5, 5, 1, 2}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("step %d: got %v, want %vs (all %v)", i, got[i], want[i], got)
		}
	}
}
