package runvm

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// HostAlias is the name the machine has in the ssh configuration that
// `make run` writes.
const HostAlias = "berth-vm"

// Login is how to reach the machine over SSH.
type Login struct {
	Dir  string // build/ssh, absolute: config, known_hosts, the key pairs
	Port int    // the host port forwarded to the guest's 22
	User string
	Key  Key
	// HostPublic is the machine's host key (authorized_keys form).
	HostPublic string
}

// Config is the ssh_config file `ssh -F` reads.
func (l Login) Config() string { return filepath.Join(l.Dir, "config") }

// Write writes the ssh configuration and known_hosts for the machine.
func (l Login) Write() error {
	known := filepath.Join(l.Dir, "known_hosts")
	f := strings.Fields(l.HostPublic)
	if len(f) < 2 {
		return fmt.Errorf("host key %q: not a public key", l.HostPublic)
	}
	if err := os.WriteFile(known, []byte(HostAlias+" "+f[0]+" "+f[1]+"\n"), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", known, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by `make run`: the machine it boots, for ssh -F and scp -F.\n")
	fmt.Fprintf(&b, "Host %s\n  HostName 127.0.0.1\n  Port %d\n  User %s\n", HostAlias, l.Port, l.User)
	fmt.Fprintf(&b, "  HostKeyAlias %s\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n", HostAlias, known)
	if l.Key.Identity != "" {
		fmt.Fprintf(&b, "  IdentityFile %s\n", l.Key.Identity)
	}
	if err := os.WriteFile(l.Config(), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", l.Config(), err)
	}
	return nil
}

// Command is the ssh command line that logs in.
func (l Login) Command() string { return "ssh -F " + l.Config() + " " + HostAlias }

// Args are Command's words, for exec.
func (l Login) Args(extra ...string) []string {
	return append([]string{"ssh", "-F", l.Config(), HostAlias}, extra...)
}
