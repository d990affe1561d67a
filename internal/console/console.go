// Package console makes the loggers Berth's early processes write to the
// serial console with: "berth: " lines, and with berth.debug=1 on the
// kernel command line, the time since boot in front as the kernel does.
package console

import (
	"fmt"
	"io"
	"log"
	"os"
	"sync"

	"berth.dev/berth/internal/cmdline"
)

// Logger returns a console logger writing to w.
func Logger(w io.Writer) *log.Logger {
	raw, _ := os.ReadFile("/proc/cmdline")
	if v, _ := cmdline.Parse(string(raw)).Get("berth.debug"); v == "1" {
		w = &stamped{w: w}
	}
	return log.New(w, "berth: ", 0)
}

// stamped puts the boot clock in front of each write (one log line). The
// stamp and the line go out in one write: two writes would let another
// writer's line, or the kernel's, fall between them.
type stamped struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func (s *stamped) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := SinceBootMS()
	s.buf = fmt.Appendf(s.buf[:0], "[%5d.%03d] ", ms/1000, ms%1000)
	s.buf = append(s.buf, p...)
	if _, err := s.w.Write(s.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}
