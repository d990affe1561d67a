package console

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A mirror that cannot take more (a stopped terminal; here a pipe nobody
// reads) drops the line; the console proper gets every line, at once.
func TestMirrorNeverBlocks(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "screen")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(fifo, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var serial bytes.Buffer
	m := mirrorTo(&serial, []string{fifo, filepath.Join(t.TempDir(), "absent")})
	line := strings.Repeat("x", 4095) + "\n"
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 64 { // 256 KiB: more than a pipe holds
			if n, err := m.Write([]byte(line)); n != len(line) || err != nil {
				t.Errorf("Write = %d, %v", n, err)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a full mirror blocked the writer")
	}
	if serial.Len() != 64*len(line) {
		t.Errorf("the console got %d bytes, want %d", serial.Len(), 64*len(line))
	}
	buf := make([]byte, 1<<20)
	n, _ := r.Read(buf)
	if n == 0 || n >= 64*len(line) || !bytes.HasPrefix(buf[:n], []byte(line)) {
		t.Errorf("the mirror got %d bytes, want some lines and fewer than all", n)
	}
}
