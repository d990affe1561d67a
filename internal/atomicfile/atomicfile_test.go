package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, content := range []string{"one", "two"} {
		if err := Write(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		st, _ := os.Stat(p)
		if string(b) != content || st.Mode().Perm() != 0o600 {
			t.Fatalf("got %q %v", b, st.Mode())
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temp files left: %v", ents)
	}
}

func TestWriteFromSized(t *testing.T) {
	p := filepath.Join(t.TempDir(), "vmlinuz")
	if err := WriteFrom(p, strings.NewReader("kernel"), 6, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "kernel" {
		t.Fatalf("%q", b)
	}
	// A short stream is refused and the old file kept.
	if err := WriteFrom(p, strings.NewReader("ker"), 6, 0o644); err == nil {
		t.Fatal("short stream accepted")
	}
	if b, _ := os.ReadFile(p); string(b) != "kernel" {
		t.Fatalf("old content lost: %q", b)
	}
	if des, _ := os.ReadDir(filepath.Dir(p)); len(des) != 1 {
		t.Fatalf("temp file left: %v", des)
	}
}
