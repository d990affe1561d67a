package console

import (
	"regexp"
	"strings"
)

// ActiveFile lists the kernel's consoles, /dev/console's last (console=
// words in their order on the command line: "tty0 ttyS0" for
// console=tty0 console=ttyS0).
const ActiveFile = "/sys/class/tty/console/active"

var vt = regexp.MustCompile(`^tty[0-9]+$`)

// others parses the content of ActiveFile into the devices, other than
// /dev/console's, that Berth's lines are mirrored to. A virtual terminal
// is written as /dev/tty0, the one in front: the file names the VT that
// was in front when it was read, and the lines follow the screen.
func others(active string) []string {
	f := strings.Fields(active)
	if len(f) < 2 {
		return nil
	}
	var devs []string
	seen := map[string]bool{front(f[len(f)-1]): true}
	for _, name := range f[:len(f)-1] {
		if strings.ContainsAny(name, "/.") {
			continue // not a device name
		}
		if name = front(name); !seen[name] {
			seen[name] = true
			devs = append(devs, "/dev/"+name)
		}
	}
	return devs
}

// front names every virtual terminal by the one in front, tty0.
func front(name string) string {
	if vt.MatchString(name) {
		return "tty0"
	}
	return name
}
