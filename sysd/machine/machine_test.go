package machine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRecordBoot(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lib/berth/boots")
	for i, tc := range []struct {
		id   string
		want int
	}{{"aaa", 1}, {"aaa", 1}, {"bbb", 2}, {"ccc", 3}} {
		b, err := RecordBoot(p, tc.id, "1.0", "A")
		if err != nil || b.N != tc.want {
			t.Fatalf("step %d: %+v %v, want N=%d", i, b, err, tc.want)
		}
	}
	// A torn last line (power cut) is ignored.
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("4 dd")
	f.Close()
	b, err := RecordBoot(p, "eee", "1.0", "B")
	if err != nil || b.N != 4 {
		t.Fatalf("after torn line: %+v %v", b, err)
	}
}

func TestEnsureMachineID(t *testing.T) {
	p := filepath.Join(t.TempDir(), "machine-id")
	os.WriteFile(p, []byte("uninitialized\n"), 0o644)
	id, err := EnsureMachineID(p)
	if err != nil || !validMachineID(id) {
		t.Fatalf("%q %v", id, err)
	}
	again, err := EnsureMachineID(p)
	if err != nil || again != id {
		t.Fatalf("second call: %q %v, want %q", again, err, id)
	}
}

func TestMeminfo(t *testing.T) {
	m := Meminfo(strings.NewReader("MemTotal:        1000 kB\nMemAvailable:     600 kB\nHugePages_Total:       0\n"))
	if m["MemTotal"] != 1000 || m["MemAvailable"] != 600 || m["HugePages_Total"] != 0 {
		t.Fatalf("got %v", m)
	}
}
