package userdata

import (
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse("Mon 2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct{ window, now, want string }{
		{"02:00-04:00", "Thu 2026-11-26 03:00", "Thu 2026-11-26 03:00"},
		{"02:00-04:00", "Thu 2026-11-26 05:00", "Fri 2026-11-27 02:00"},
		{"02:00-04:00", "Thu 2026-11-26 01:00", "Thu 2026-11-26 02:00"},
		{"Sun 02:00-04:00", "Thu 2026-11-26 03:00", "Sun 2026-11-29 02:00"},
		{"Mon-Fri 22:00-02:00", "Sat 2026-11-28 01:00", "Sat 2026-11-28 01:00"}, // Friday's window
		{"Mon-Fri 22:00-02:00", "Sat 2026-11-28 03:00", "Mon 2026-11-30 22:00"},
		{"sat,sun 10:00-11:00", "Fri 2026-11-27 10:30", "Sat 2026-11-28 10:00"},
	} {
		w, err := ParseWindow(tc.window)
		if err != nil {
			t.Fatal(err)
		}
		if got := w.Next(at(tc.now)); !got.Equal(at(tc.want)) {
			t.Errorf("%s at %s: %s, want %s", tc.window, tc.now, got.Format("Mon 2006-01-02 15:04"), tc.want)
		}
	}
	for _, bad := range []string{"", "2-4", "02:00-02:00", "Xyz 02:00-03:00", "25:00-26:00", "Mon 02:00-03:00 x"} {
		if _, err := ParseWindow(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzParseWindow(f *testing.F) {
	f.Add("Sat,Sun 02:00-04:00")
	f.Fuzz(func(t *testing.T, s string) { ParseWindow(s) })
}

// NoCloud's meta-data: YAML or JSON from the seed.
func FuzzParseMetaData(f *testing.F) {
	f.Add([]byte("instance-id: iid-1\nlocal-hostname: h\n"), []byte("#cloud-config\n"))
	f.Fuzz(func(t *testing.T, md, ud []byte) {
		m, _ := ParseMetaData(&Seed{Source: "nocloud", MetaData: md, UserData: ud})
		if m.InstanceID == "" {
			t.Fatal("no instance id")
		}
	})
}
