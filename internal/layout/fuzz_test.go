package layout

import (
	"strings"
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

// berth.verity comes from a boot entry on the ESP, which anyone with the
// disk can edit: it must parse or be refused, never panic, and what
// parses must print back the same.
func FuzzParseVerity(f *testing.F) {
	f.Add("36864:" + strings.Repeat("ab", 32) + ":" + strings.Repeat("01", 32))
	f.Add("1::")
	f.Add("001:" + strings.Repeat("00", 32) + ":") // once parsed, printed as "1:…"
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVerity(s)
		if err != nil {
			return
		}
		if v.String() != s {
			t.Fatalf("%q parsed as %+v, prints as %q", s, v, v.String())
		}
		if v.HashOffset()/VerityBlockSize != v.DataBlocks {
			t.Fatalf("%q: hash offset overflows", s)
		}
	})
}
