package cmdline

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		line    string
		slot    string
		slotErr string
		unknown []string
	}{
		{"slot A", "console=ttyS0 berth.slot=A quiet\n", "A", "", nil},
		{"lower case", "berth.slot=b", "B", "", nil},
		{"missing", "console=ttyS0", "", "berth.slot is missing", nil},
		{"bad slot", "berth.slot=C", "", `berth.slot="C" is not a slot`, nil},
		{"unknown", "berth.solt=B berth.slot=A berth.zz", "A", "", []string{"berth.solt", "berth.zz"}},
		{"quoted", `foo="a b" berth.slot=A`, "A", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Parse(tc.line)
			slot, err := p.Slot()
			if tc.slotErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.slotErr) {
					t.Fatalf("Slot() error = %v, want %q", err, tc.slotErr)
				}
			} else if err != nil || slot != tc.slot {
				t.Fatalf("Slot() = %q, %v; want %q", slot, err, tc.slot)
			}
			if !reflect.DeepEqual(p.Unknown, tc.unknown) {
				t.Fatalf("Unknown = %v, want %v", p.Unknown, tc.unknown)
			}
			if len(p.UnknownMessages()) != len(tc.unknown) {
				t.Fatalf("UnknownMessages = %v", p.UnknownMessages())
			}
		})
	}
}

func TestQuotedValue(t *testing.T) {
	p := Parse(`a="x y" b`)
	if v, _ := p.Get("a"); v != "x y" {
		t.Fatalf("a = %q", v)
	}
	if _, ok := p.Get("b"); !ok {
		t.Fatal("bare word b missing")
	}
}

func TestList(t *testing.T) {
	p := Parse("berth.modules=dummy,,veth berth.slot=A")
	if got := p.List("berth.modules"); !reflect.DeepEqual(got, []string{"dummy", "veth"}) {
		t.Fatalf("got %v", got)
	}
	if got := p.List("nothing"); got != nil {
		t.Fatalf("got %v", got)
	}
}

func TestHas(t *testing.T) {
	p := Parse(`console=tty0 console=ttyS0,115200 berth.debug_shell ds=nocloud;s=http://10.0.2.2/ quiet=`)
	for w, want := range map[string]bool{
		"berth.debug_shell": true, "console": true, "console=ttyS0,115200": true, "console=ttyS1": false,
		"console=tty0":                  true, // any word may match, not only a key's last
		"ds=nocloud;s=http://10.0.2.2/": true, "quiet": true, "quiet=": true, "berth.slot": false,
	} {
		if got := p.Has(w); got != want {
			t.Errorf("Has(%q) = %v, want %v", w, got, want)
		}
	}
}
