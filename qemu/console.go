package qemu

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Line is one line of the serial console and when the harness read it.
type Line struct {
	At   time.Time
	Text string
}

// Console collects the guest's serial output line by line. Matching is done
// from a cursor, so each Expect sees only what came after the previous match.
type Console struct {
	mu      sync.Mutex
	lines   []Line
	partial string
	// carry is the start of a line a kernel message broke into: the
	// kernel prints on the serial port directly, in the middle of a line
	// a process is writing, and the rest of that line comes after the
	// kernel's.
	carry   string
	closed  bool
	changed chan struct{} // closed and replaced on every change
	cursor  int
	log     io.Writer
}

func newConsole(log io.Writer) *Console {
	return &Console{changed: make(chan struct{}), log: log}
}

// read consumes r until EOF; \r is dropped.
func (c *Console) read(r io.Reader) {
	br := bufio.NewReader(r)
	for {
		s, err := br.ReadString('\n')
		c.mu.Lock()
		if s != "" {
			if c.log != nil {
				io.WriteString(c.log, s)
			}
			c.partial += strings.ReplaceAll(s, "\r", "")
			if strings.HasSuffix(c.partial, "\n") {
				c.add(time.Now(), strings.TrimSuffix(c.partial, "\n"))
				c.partial = ""
			}
		}
		if err != nil {
			if c.partial != "" || c.carry != "" {
				c.add(time.Now(), c.partial)
				c.partial = ""
			}
			c.closed = true
		}
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

var (
	// kernelRecord is where a kernel message starts: its timestamp, with
	// the six decimals printk uses (Berth's own berth.debug=1 stamps have
	// three).
	kernelRecord = regexp.MustCompile(`\[ *\d+\.\d{6}\] `)
	// escape is a terminal control sequence (bash's bracketed paste mode,
	// colours): a person does not see it.
	escape = regexp.MustCompile(`\x1b(\[[0-9;?]*[ -/]*[@-~]|[@-Z\\-_])`)
	// berthAfterPrompt is a Berth line written after a prompt that ended
	// without a newline ("host login: berth: service …: up").
	berthAfterPrompt = regexp.MustCompile(`^(.*[:$#>] )((?:\[ *\d+\.\d{3}\] )?berth: .*)$`)
	berthLine        = regexp.MustCompile(`^(?:\[ *\d+\.\d{3}\] )?berth: `)
)

// add files one physical line as the lines a person reads in it: control
// sequences are dropped; a kernel message that came in the middle of a
// line is a line of its own, and the broken line is joined again with its
// rest, which follows the kernel's message on the next physical line; a
// Berth line that follows a prompt on the same line is a line of its own.
func (c *Console) add(at time.Time, s string) {
	s = escape.ReplaceAllString(s, "")
	if c.carry == "" && !berthLine.MatchString(s) {
		if m := berthAfterPrompt.FindStringSubmatch(s); m != nil {
			c.lines = append(c.lines, Line{at, m[1]})
			s = m[2]
		}
	}
	loc := kernelRecord.FindStringIndex(s)
	switch {
	case loc == nil:
		c.lines = append(c.lines, Line{at, c.carry + s})
		c.carry = ""
	case loc[0] > 0:
		c.carry += s[:loc[0]]
		c.lines = append(c.lines, Line{at, s[loc[0]:]})
	default: // a kernel line; a broken line's rest is still to come
		c.lines = append(c.lines, Line{at, s})
	}
}

// ErrClosed is returned by Expect when QEMU ended before the line came.
var ErrClosed = fmt.Errorf("console closed (QEMU exited)")

// Expect waits until a line after the cursor matches re and moves the
// cursor past it. It returns the line and the regexp's submatches.
func (c *Console) Expect(re *regexp.Regexp, timeout time.Duration) (Line, []string, error) {
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		for i := c.cursor; i < len(c.lines); i++ {
			if m := re.FindStringSubmatch(c.lines[i].Text); m != nil {
				c.cursor = i + 1
				l := c.lines[i]
				c.mu.Unlock()
				return l, m, nil
			}
		}
		closed, ch := c.closed, c.changed
		c.mu.Unlock()
		if closed {
			return Line{}, nil, fmt.Errorf("waiting for /%s/: %w", re, ErrClosed)
		}
		select {
		case <-ch:
		case <-deadline:
			return Line{}, nil, fmt.Errorf("no console line matched /%s/ within %v", re, timeout)
		}
	}
}

// Seen waits until any line, before or after the cursor, matches re; the
// cursor does not move. For lines whose order against others is not fixed.
func (c *Console) Seen(re *regexp.Regexp, timeout time.Duration) (Line, error) {
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		for _, l := range c.lines {
			if re.MatchString(l.Text) {
				c.mu.Unlock()
				return l, nil
			}
		}
		closed, ch := c.closed, c.changed
		c.mu.Unlock()
		if closed {
			return Line{}, fmt.Errorf("waiting for /%s/: %w", re, ErrClosed)
		}
		select {
		case <-ch:
		case <-deadline:
			return Line{}, fmt.Errorf("no console line matched /%s/ within %v", re, timeout)
		}
	}
}

// Lines returns a copy of every complete line so far.
func (c *Console) Lines() []Line {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Line(nil), c.lines...)
}

// Tail returns the last n lines as text, with the partial line.
func (c *Console) Tail(n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	from := len(c.lines) - n
	if from < 0 {
		from = 0
	}
	var b strings.Builder
	for _, l := range c.lines[from:] {
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	b.WriteString(c.carry + c.partial)
	return b.String()
}
