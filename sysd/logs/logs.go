// Package logs keeps what a service prints: a ring buffer of timestamped
// lines in memory for `os-ctl logs`, the same lines in a file on STATE
// rotated by size, and followers for `logs -f`.
package logs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Line is one line of output.
type Line struct {
	Time time.Time `json:"time"`
	Text string    `json:"text"`
}

func (l Line) String() string {
	return l.Time.UTC().Format("2006-01-02T15:04:05.000Z") + " " + l.Text
}

// Log is one service's log. It is an io.Writer; partial lines wait for
// their newline.
type Log struct {
	Path    string // file on disk; empty for memory only
	MaxSize int64  // rotate the file past this size (keeping one older file)
	Now     func() time.Time

	mu      sync.Mutex
	ring    []Line
	next    int
	full    bool
	partial []byte
	file    *os.File
	size    int64
	subs    map[chan Line]struct{}
}

// New returns a log keeping n lines in memory and, when path is set,
// appending to that file.
func New(path string, n int, maxSize int64) *Log {
	return &Log{Path: path, MaxSize: maxSize, ring: make([]Line, n), subs: map[chan Line]struct{}{}}
}

// Write splits p into lines and adds each.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	data := append(l.partial, p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		l.add(string(bytes.TrimRight(data[:i], "\r")))
		data = data[i+1:]
	}
	if len(data) > 4096 { // a line without end must not grow forever
		l.add(string(data))
		data = nil
	}
	l.partial = append([]byte(nil), data...)
	return len(p), nil
}

// Printf adds one line.
func (l *Log) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.add(fmt.Sprintf(format, args...))
}

func (l *Log) add(text string) {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	line := Line{Time: now(), Text: text}
	l.ring[l.next] = line
	l.next = (l.next + 1) % len(l.ring)
	if l.next == 0 {
		l.full = true
	}
	l.toFile(line)
	for ch := range l.subs {
		select {
		case ch <- line:
		default: // a slow follower loses lines rather than stalling the service
		}
	}
}

func (l *Log) toFile(line Line) {
	if l.Path == "" {
		return
	}
	if l.file == nil {
		if err := os.MkdirAll(filepath.Dir(l.Path), 0o755); err != nil {
			return
		}
		f, err := os.OpenFile(l.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return
		}
		st, _ := f.Stat()
		l.file, l.size = f, st.Size()
	}
	n, _ := fmt.Fprintln(l.file, line.String())
	l.size += int64(n)
	if l.MaxSize > 0 && l.size > l.MaxSize {
		l.file.Close()
		l.file = nil
		os.Rename(l.Path, l.Path+".1")
	}
}

// Tail returns the last n lines in memory (all when n <= 0).
func (l *Log) Tail(n int) []Line {
	l.mu.Lock()
	defer l.mu.Unlock()
	var all []Line
	if l.full {
		all = append(all, l.ring[l.next:]...)
	}
	all = append(all, l.ring[:l.next]...)
	if n > 0 && n < len(all) {
		all = all[len(all)-n:]
	}
	return all
}

// Follow returns the last n lines and a channel of the lines that follow;
// call stop when done.
func (l *Log) Follow(n int) (tail []Line, lines <-chan Line, stop func()) {
	tail = l.Tail(n)
	ch := make(chan Line, 256)
	l.mu.Lock()
	l.subs[ch] = struct{}{}
	l.mu.Unlock()
	return tail, ch, func() {
		l.mu.Lock()
		delete(l.subs, ch)
		l.mu.Unlock()
	}
}

// Close closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		return nil
	}
	err := l.file.Close()
	l.file = nil
	return err
}
