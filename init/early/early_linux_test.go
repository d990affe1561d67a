package early

import (
	"errors"
	"strings"
	"testing"
)

type fake struct {
	name string
	err  error
	ran  *[]string
}

func (f fake) Create() error  { *f.ran = append(*f.ran, f.name); return f.err }
func (f fake) String() string { return f.name }

func TestRunGoesOnAndJoinsRequiredErrors(t *testing.T) {
	var ran, warned []string
	boom := errors.New("boom")
	err := Run([]Step{
		fake{"a", nil, &ran},
		Optional{fake{"b", boom, &ran}},
		fake{"c", boom, &ran},
		fake{"d", nil, &ran},
	}, func(s string) { warned = append(warned, s) })
	if strings.Join(ran, ",") != "a,b,c,d" {
		t.Fatalf("ran %v", ran)
	}
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "b (optional): boom") {
		t.Fatalf("warned %v", warned)
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct {
		s    Step
		want string
	}{
		{Mount{Source: "proc", Target: "/proc", FSType: "proc"}, "mount -t proc proc /proc"},
		{Mount{Source: "tmpfs", Target: "/run", FSType: "tmpfs", Data: "mode=0755"}, "mount -t tmpfs tmpfs /run -o mode=0755"},
		{Dir{Path: "/run/berth", Mode: 0o700}, "mkdir /run/berth (0700)"},
		{Symlink{Target: "/proc/self/fd", Link: "/dev/fd"}, "ln -s /proc/self/fd /dev/fd"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestIfExists(t *testing.T) {
	var ran []string
	dir := t.TempDir()
	if err := Run([]Step{
		IfExists{Path: dir + "/missing", Step: fake{"skipped", errors.New("must not run"), &ran}},
		IfExists{Path: dir, Step: fake{"ran", nil, &ran}},
	}, func(string) {}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ran, ",") != "ran" {
		t.Fatalf("ran %v", ran)
	}
}
