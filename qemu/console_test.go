package qemu

import (
	"errors"
	"io"
	"regexp"
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
