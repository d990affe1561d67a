package console

import (
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Mirror returns a writer that writes to w, /dev/console, and also to
// every other console the kernel writes its messages to: a PC's or a
// hypervisor's screen (console=tty0) shows Berth's lines as well as the
// serial port. w's error is the writer's; a mirror never blocks nor
// fails a write: its terminal is opened non-blocking, and a screen held
// by Scroll Lock, or a serial line stopped by flow control, drops the
// line rather than stopping PID 1 or sysd. Where the kernel lists no
// other console, it returns w.
func Mirror(w io.Writer) io.Writer {
	raw, err := os.ReadFile(ActiveFile)
	if err != nil {
		return w
	}
	return mirrorTo(w, others(string(raw)))
}

func mirrorTo(w io.Writer, devs []string) io.Writer {
	var fds []int
	for _, dev := range devs {
		// O_NOCTTY: PID 1 must not take a terminal as its own;
		// O_CLOEXEC: no service inherits it.
		fd, err := unix.Open(dev, unix.O_WRONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err == nil {
			fds = append(fds, fd)
		}
	}
	if len(fds) == 0 {
		return w
	}
	return &mirror{w: w, fds: fds}
}

type mirror struct {
	w   io.Writer
	mu  sync.Mutex
	fds []int
}

func (m *mirror) Write(p []byte) (int, error) {
	n, err := m.w.Write(p)
	m.mu.Lock()
	for _, fd := range m.fds {
		// Straight to the descriptor, not through os.File: Go's poller
		// would wait for a stopped terminal, where EAGAIN is wanted.
		unix.Write(fd, p)
	}
	m.mu.Unlock()
	return n, err
}
