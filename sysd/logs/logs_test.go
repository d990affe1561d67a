package logs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRingKeepsLastLinesAndJoinsPartialWrites(t *testing.T) {
	l := New("", 3, 0)
	l.Write([]byte("one\ntw"))
	l.Write([]byte("o\nthree\nfour\n"))
	var got []string
	for _, x := range l.Tail(0) {
		got = append(got, x.Text)
	}
	if strings.Join(got, ",") != "two,three,four" {
		t.Fatalf("tail = %v", got)
	}
	if len(l.Tail(1)) != 1 || l.Tail(1)[0].Text != "four" {
		t.Fatalf("tail 1 = %v", l.Tail(1))
	}
}

func TestFileIsTimestampedAndRotated(t *testing.T) {
	p := filepath.Join(t.TempDir(), "svc.log")
	l := New(p, 10, 100)
	l.Now = func() time.Time { return time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC) }
	for i := 0; i < 5; i++ {
		l.Printf("line %d of some length", i)
	}
	l.Close()
	old, _ := os.ReadFile(p + ".1")
	cur, _ := os.ReadFile(p)
	if !strings.HasPrefix(string(old), "2026-11-26T09:00:00.000Z line 0 of some length\n") {
		t.Fatalf("rotated file:\n%s", old)
	}
	if !strings.Contains(string(old)+string(cur), "line 4") || len(cur) > 100 {
		t.Fatalf("current file (%d bytes):\n%s", len(cur), cur)
	}
}

func TestFollow(t *testing.T) {
	l := New("", 10, 0)
	l.Printf("before")
	tail, ch, stop := l.Follow(5)
	defer stop()
	l.Printf("after")
	if len(tail) != 1 || tail[0].Text != "before" {
		t.Fatalf("tail = %v", tail)
	}
	select {
	case x := <-ch:
		if x.Text != "after" {
			t.Fatalf("followed %q", x.Text)
		}
	case <-time.After(time.Second):
		t.Fatal("nothing followed")
	}
}
