package update

import "testing"

func TestParseEntryName(t *testing.T) {
	for _, tc := range []struct {
		name  string
		want  Entry
		state EntryState
	}{
		{"berth-a.conf", Entry{Slot: "A"}, "good"},
		{"berth-b+3.conf", Entry{Slot: "B", Counting: true, Left: 3}, "on trial"},
		{"berth-b+2-1.conf", Entry{Slot: "B", Counting: true, Left: 2, Done: 1}, "on trial"},
		{"berth-b+0-3.conf", Entry{Slot: "B", Counting: true, Left: 0, Done: 3}, "bad"},
	} {
		got, err := ParseEntryName(tc.name)
		if err != nil || got != tc.want {
			t.Fatalf("%s: %+v %v", tc.name, got, err)
		}
		if got.Name() != tc.name || got.State() != tc.state {
			t.Fatalf("%s: Name %s State %s", tc.name, got.Name(), got.State())
		}
	}
	for _, bad := range []string{"berth-c.conf", "debian.conf", "berth-a+x.conf", "berth-a"} {
		if _, err := ParseEntryName(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
