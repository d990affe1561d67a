package kmod

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Uevent is one kernel device event as NETLINK_KOBJECT_UEVENT delivers
// it: "ACTION@DEVPATH", then KEY=VALUE fields, NUL-separated.
type Uevent struct {
	Action    string // add, remove, change, bind, unbind, move, online, offline
	DevPath   string // below /sys
	Subsystem string
	Modalias  string
	Env       map[string]string
}

// maxUevent bounds a message: the kernel's own limit (UEVENT_BUFFER_SIZE)
// is 2048 bytes of fields plus the header.
const maxUevent = 8192

// ParseUevent reads a kernel uevent. Messages that udevd rebroadcasts
// ("libudev" header) and anything not in the kernel's format are refused.
func ParseUevent(msg []byte) (Uevent, error) {
	if len(msg) > maxUevent {
		return Uevent{}, fmt.Errorf("uevent: %d bytes, more than %d", len(msg), maxUevent)
	}
	fields := bytes.Split(bytes.TrimRight(msg, "\x00"), []byte{0})
	head, devpath, ok := strings.Cut(string(fields[0]), "@")
	if !ok || head == "" || !strings.HasPrefix(devpath, "/") {
		return Uevent{}, fmt.Errorf("uevent: header %q is not ACTION@DEVPATH", truncate(fields[0]))
	}
	ev := Uevent{Env: map[string]string{}}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(string(f), "=")
		if !ok || k == "" {
			return Uevent{}, fmt.Errorf("uevent %s: field %q is not KEY=VALUE", devpath, truncate(f))
		}
		ev.Env[k] = v
	}
	ev.Action, ev.DevPath = ev.Env["ACTION"], ev.Env["DEVPATH"]
	ev.Subsystem, ev.Modalias = ev.Env["SUBSYSTEM"], ev.Env["MODALIAS"]
	if ev.Action != head || ev.DevPath != devpath {
		return Uevent{}, errors.New("uevent: header " + truncate(fields[0]) + " disagrees with ACTION and DEVPATH")
	}
	return ev, nil
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}
