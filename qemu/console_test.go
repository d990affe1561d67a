package qemu

import (
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestConsoleExpectMovesCursorSeenDoesNot(t *testing.T) {
	pr, pw := io.Pipe()
	c := newConsole(nil)
	go c.read(pr)
	go func() {
		io.WriteString(pw, "one\r\nready\r\ntwo\nready\npartial")
		pw.Close()
	}()
	re := regexp.MustCompile(`^ready$`)
	for i := 0; i < 2; i++ {
		if _, _, err := c.Expect(re, 5*time.Second); err != nil {
			t.Fatalf("match %d: %v", i, err)
		}
	}
	// Both "ready" lines are behind the cursor now.
	if _, _, err := c.Expect(re, 5*time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("third match: %v, want ErrClosed", err)
	}
	if _, err := c.Seen(regexp.MustCompile(`^one$`), time.Second); err != nil {
		t.Fatalf("Seen looks behind the cursor: %v", err)
	}
	// The unterminated last line counts once QEMU is gone.
	if _, err := c.Seen(regexp.MustCompile(`^partial$`), time.Second); err != nil {
		t.Fatalf("partial last line: %v", err)
	}
}

func TestConsoleExpectTimeout(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	c := newConsole(nil)
	go c.read(pr)
	_, _, err := c.Expect(regexp.MustCompile(`never`), 50*time.Millisecond)
	if err == nil || errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want a timeout", err)
	}
}

func TestSummarize(t *testing.T) {
	if s := Summarize([]float64{3, 1, 2}); s != (Stats{1, 2, 3}) {
		t.Fatalf("odd: %+v", s)
	}
	if s := Summarize([]float64{4, 1, 2, 3}); s != (Stats{1, 2.5, 4}) {
		t.Fatalf("even: %+v", s)
	}
}

func TestArgs(t *testing.T) {
	direct, _ := Config{Dir: "/d", Kernel: "k", Initrd: "i", Append: "a b", NoReboot: true, Forwards: []Forward{{2222, 22}}}.args()
	efi, _ := Config{Dir: "/d"}.args()
	has := func(args []string, want ...string) bool {
		for i := 0; i+len(want) <= len(args); i++ {
			ok := true
			for j, w := range want {
				if args[i+j] != w {
					ok = false
					break
				}
			}
			if ok {
				return true
			}
		}
		return false
	}
	for _, want := range [][]string{
		{"-kernel", "k", "-initrd", "i", "-append", "a b"}, {"-no-reboot"}, {"-cpu", "max"},
		{"-device", "virtio-rng-pci"}, {"-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22"},
	} {
		if !has(direct, want...) {
			t.Errorf("direct boot lacks %v: %v", want, direct)
		}
	}
	if !has(efi, "-drive", "if=pflash,format=raw,file=/d/OVMF_VARS.fd") || has(efi, "-no-reboot") {
		t.Errorf("EFI boot args: %v", efi)
	}
}

// A kernel message printed into the middle of a Berth line is a line of
// its own, and the Berth line is whole again; a malformed line stays
// malformed.
func TestConsoleKernelMessageInsideALine(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"at the end", "berth: ready version=0.1.0 slot=A boot_ms=8327[    8.483163] loop1: detected capacity change from 0 to 124392\r\n\r\nnext\r\n",
			[]string{"[    8.483163] loop1: detected capacity change from 0 to 124392", "berth: ready version=0.1.0 slot=A boot_ms=8327", "next"}},
		{"in the middle, twice", "berth: rea[    1.000001] one\r\n[    1.000002] two\r\ndy slot=A\r\n",
			[]string{"[    1.000001] one", "[    1.000002] two", "berth: ready slot=A"}},
		{"a kernel line alone", "[   10.100000] eth0: link up\r\nberth: x\r\n",
			[]string{"[   10.100000] eth0: link up", "berth: x"}},
		{"berth's own debug stamp is not the kernel's", "[    8.483] berth: ready\r\n",
			[]string{"[    8.483] berth: ready"}},
		{"cut off by the end of output", "berth: rea[    1.000001] one\r\n",
			[]string{"[    1.000001] one", "berth: rea"}},
		{"malformed stays malformed", "berth: ready boot_ms=83x27\r\n",
			[]string{"berth: ready boot_ms=83x27"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConsole(nil)
			c.read(strings.NewReader(tc.in))
			var got []string
			for _, l := range c.Lines() {
				got = append(got, l.Text)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("lines:\n%q\nwant:\n%q", got, tc.want)
			}
		})
	}
	c := newConsole(nil)
	c.read(strings.NewReader("berth: ready version=0.1.0 slot=A boot_ms=83x27[    8.483163] loop1: x\r\n\r\n"))
	_, _, err := c.Expect(regexp.MustCompile(`^berth: ready version=(\S+) slot=([AB]) boot_ms=(\d+)$`), time.Second)
	if err == nil {
		t.Fatal("a malformed ready line matched")
	}
}

// What a person sees: no control sequences, and a Berth line that came
// after a login prompt is a line of its own.
func TestConsoleLinesAsAPersonSeesThem(t *testing.T) {
	c := newConsole(nil)
	c.read(strings.NewReader("berth-9681edbf login: berth: service docker.service: up\r\n" +
		"\x1b[?2004halice@berth:~$ echo x\r\n\x1b[?2004lserial-alice-42\r\n" +
		"berth: service a: failed: berth: nested\r\n"))
	var got []string
	for _, l := range c.Lines() {
		got = append(got, l.Text)
	}
	want := []string{"berth-9681edbf login: ", "berth: service docker.service: up", "alice@berth:~$ echo x", "serial-alice-42", "berth: service a: failed: berth: nested"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines:\n%q\nwant:\n%q", got, want)
	}
}
