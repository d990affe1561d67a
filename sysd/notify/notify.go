// Package notify receives the sd_notify protocol (sd_notify(3)): each
// datagram on a unix socket is newline-separated KEY=value assignments
// (READY=1, STATUS=…, WATCHDOG=1, STOPPING=1, MAINPID=…).
package notify

import (
	"strconv"
	"strings"
)

// Message is one datagram, parsed.
type Message struct {
	Pid       int // the sender, from its credentials (0 if unknown)
	Ready     bool
	Stopping  bool
	Watchdog  bool
	Reloading bool
	Status    string
	MainPID   int
	Errno     int
	// Other holds assignments Berth does not act on, for logs.
	Other map[string]string
}

// Parse reads one datagram's payload.
func Parse(b []byte) Message {
	var m Message
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			continue
		}
		switch k {
		case "READY":
			m.Ready = v == "1"
		case "STOPPING":
			m.Stopping = v == "1"
		case "WATCHDOG":
			m.Watchdog = v == "1"
		case "RELOADING":
			m.Reloading = v == "1"
		case "STATUS":
			m.Status = v
		case "MAINPID":
			m.MainPID, _ = strconv.Atoi(v)
		case "ERRNO":
			m.Errno, _ = strconv.Atoi(v)
		default:
			if m.Other == nil {
				m.Other = map[string]string{}
			}
			m.Other[k] = v
		}
	}
	return m
}
