package pid1

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// printkFile holds the console log level in its first field (the kernel
// command line's loglevel= sets it at boot).
const printkFile = "/proc/sys/kernel/printk"

// consoleLevel is the console log level the machine booted with, kept so
// that PID 1 can put it back: Alt-SysRq-E and -I (which end every process
// but PID 1) leave it at "debug", and then every loop, input and bridge
// message of the restart is printed on the serial console, in the middle
// of the lines Berth writes there. Equivalent to: `dmesg -n LEVEL`.
type consoleLevel struct {
	file  string
	level int // 0: unknown, nothing to restore
}

// readConsoleLevel reads the current level.
func readConsoleLevel(file string) (consoleLevel, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return consoleLevel{file: file}, fmt.Errorf("read console log level: %w", err)
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return consoleLevel{file: file}, fmt.Errorf("read console log level: %s is empty", file)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 1 {
		return consoleLevel{file: file}, fmt.Errorf("read console log level: %s: %q is not a level", file, f[0])
	}
	return consoleLevel{file: file, level: n}, nil
}

// restore sets the console log level back to the boot's when something
// changed it; it reports whether it did.
func (c consoleLevel) restore() (bool, error) {
	if c.level == 0 {
		return false, nil
	}
	now, err := readConsoleLevel(c.file)
	if err != nil {
		return false, err
	}
	if now.level == c.level {
		return false, nil
	}
	// Writing one number sets the first field only.
	if err := os.WriteFile(c.file, []byte(strconv.Itoa(c.level)), 0o644); err != nil {
		return false, fmt.Errorf("restore console log level %d: %w", c.level, err)
	}
	return true, nil
}
