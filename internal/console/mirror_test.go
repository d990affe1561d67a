package console

import (
	"slices"
	"testing"
)

func TestOthers(t *testing.T) {
	for _, c := range []struct {
		active string
		want   []string
	}{
		{"ttyS0\n", nil},
		{"", nil},
		{"tty0 ttyS0\n", []string{"/dev/tty0"}},
		// The kernel names the VT in front; the lines go to whichever is.
		{"tty1 ttyS0\n", []string{"/dev/tty0"}},
		{"tty1 ttyS1 ttyS0\n", []string{"/dev/tty0", "/dev/ttyS1"}},
		// Only /dev/console's own line is not mirrored.
		{"ttyS0 tty1\n", []string{"/dev/ttyS0"}},
		{"ttyS0 ttyS0\n", nil},
		{"hvc0 ../x tty1\n", []string{"/dev/hvc0"}},
	} {
		if got := others(c.active); !slices.Equal(got, c.want) {
			t.Errorf("others(%q) = %q, want %q", c.active, got, c.want)
		}
	}
}

func TestOthersVTs(t *testing.T) {
	// /dev/console on a VT: another VT is the same screen.
	if got := others("tty0 tty1\n"); got != nil {
		t.Errorf("others(tty0 tty1) = %q, want none", got)
	}
}
