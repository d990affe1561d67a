package qemu

import (
	"io"
	"sync"
)

// terminal is where an interactive VM's console shows: the guest's bytes
// go there as they come (a prompt has no newline), and notes of the
// harness's own go between them whole.
type terminal struct {
	mu sync.Mutex
	w  io.Writer
}

// tee copies r to w as it comes and returns a reader of the same bytes,
// for the line matcher.
func (t *terminal) tee(r io.Reader, w io.Writer) io.Reader {
	t.w = w
	pr, pw := io.Pipe()
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			if n > 0 {
				t.mu.Lock()
				t.w.Write(b[:n])
				t.mu.Unlock()
				pw.Write(b[:n])
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
}

// Note writes lines of the harness's own on an interactive VM's terminal,
// each on a line of its own (the terminal is raw: \r\n).
func (v *VM) Note(lines ...string) {
	t := &v.term
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.w == nil {
		return
	}
	io.WriteString(t.w, "\r\n")
	for _, l := range lines {
		io.WriteString(t.w, l+"\r\n")
	}
}
