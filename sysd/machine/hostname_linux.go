package machine

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/atomicfile"
)

// EnsureHostname gives a machine without a host name (none from user-data)
// one made from its machine ID, berth-0123abcd, and returns the name in
// force.
func EnsureHostname(machineID string) (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("hostname: %w", err)
	}
	if h != "" && h != "(none)" && h != "localhost" {
		return h, nil
	}
	name := "berth"
	if len(machineID) >= 8 {
		name += "-" + machineID[:8]
	}
	if err := unix.Sethostname([]byte(name)); err != nil {
		return h, fmt.Errorf("hostname %s: %w", name, err)
	}
	return name, nil
}

// EnsureHosts writes path (/etc/hosts) with localhost and host when there
// is none; an admin's or user-data's file stays as it is.
func EnsureHosts(path, host string) error {
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		return nil
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + host + "\n"
	return atomicfile.Write(path, []byte(hosts), 0o644)
}
