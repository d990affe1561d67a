package logs

import (
	"errors"
	"os"
	"strings"
	"syscall"
)

// FollowKmsg copies the kernel's log (/dev/kmsg records:
// "PRIO,SEQ,USEC,FLAGS;TEXT") into l, from the start of the boot, and
// shows each message to observe (nil for none).
func FollowKmsg(l *Log, observe func(text string)) {
	f, err := os.Open("/dev/kmsg")
	if err != nil {
		l.Printf("kernel log: %v", err)
		return
	}
	defer f.Close()
	buf := make([]byte, 8192)
	for {
		n, err := f.Read(buf)
		if err != nil {
			if errors.Is(err, syscall.EPIPE) { // records were overwritten before we read them
				continue
			}
			return
		}
		if text, ok := KmsgText(string(buf[:n])); ok {
			l.Printf("%s", text)
			if observe != nil {
				observe(text)
			}
		}
	}
}

// KmsgText returns a record's message with its priority, without the
// continuation lines' metadata.
func KmsgText(rec string) (string, bool) {
	head, text, ok := strings.Cut(rec, ";")
	if !ok {
		return "", false
	}
	text, _, _ = strings.Cut(text, "\n")
	prio, _, _ := strings.Cut(head, ",")
	return "<" + prio + "> " + text, true
}
