package sysd

import "testing"

func TestRefuseOutsideBerth(t *testing.T) {
	for _, c := range []struct {
		args []string
		ppid int
		ok   bool
	}{
		{nil, 1, true},
		{[]string{"--help"}, 1, false},
		{nil, 4242, false},
		{[]string{"--help"}, 4242, false},
	} {
		err := refuseOutsideBerth(c.args, c.ppid)
		if (err == nil) != c.ok {
			t.Errorf("args %q, ppid %d: got %v, want ok=%v", c.args, c.ppid, err, c.ok)
		}
	}
}
