package qemu

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Shell is the debug shell on the VM's second serial port.
type Shell struct {
	conn net.Conn
	mu   sync.Mutex
	buf  strings.Builder
	more chan struct{}
	n    int
}

// Shell connects to the debug shell; the VM must run with DebugShell and
// berth.debug_shell, and the shell must be up (the console says so).
func (v *VM) Shell() (*Shell, error) {
	c, err := net.Dial("unix", filepath.Join(v.cfg.Dir, "debug.sock"))
	if err != nil {
		return nil, fmt.Errorf("connect to the debug shell: %w", err)
	}
	s := &Shell{conn: c, more: make(chan struct{}, 1)}
	go func() {
		r := bufio.NewReader(c)
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			s.mu.Lock()
			s.buf.Write(b[:n])
			s.mu.Unlock()
			select {
			case s.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	// Quiet the terminal: no echo of what we type, no prompt.
	for i := 0; ; i++ {
		if _, _, err := s.Run("stty -echo; PS1=''; PS2=''", 3*time.Second); err == nil {
			return s, nil
		} else if i == 20 {
			c.Close()
			return nil, err
		}
	}
}

// Run runs cmd in the shell and returns its output and exit status.
func (s *Shell) Run(cmd string, timeout time.Duration) (string, int, error) {
	s.n++
	// The markers are split in what is typed so that an echo of the
	// command line never matches them.
	begin, end := fmt.Sprintf("__B%d__", s.n), fmt.Sprintf("__E%d__", s.n)
	line := fmt.Sprintf("echo __B''%d__; %s\necho __E''%d__ $?\n", s.n, cmd, s.n)
	if _, err := s.conn.Write([]byte(line)); err != nil {
		return "", -1, err
	}
	re := regexp.MustCompile(`(?s)` + begin + `\r?\n(.*?)` + end + ` (\d+)`)
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		m := re.FindStringSubmatch(s.buf.String())
		if m != nil {
			rest := s.buf.String()
			s.buf.Reset()
			s.buf.WriteString(rest[strings.Index(rest, m[0])+len(m[0]):])
		}
		s.mu.Unlock()
		if m != nil {
			code, _ := strconv.Atoi(m[2])
			return strings.ReplaceAll(m[1], "\r", ""), code, nil
		}
		select {
		case <-s.more:
		case <-deadline:
			s.mu.Lock()
			got := s.buf.String()
			s.mu.Unlock()
			return "", -1, fmt.Errorf("debug shell: %q did not finish within %v; output so far: %q", cmd, timeout, got)
		}
	}
}

// Close disconnects (the shell keeps running).
func (s *Shell) Close() error { return s.conn.Close() }
