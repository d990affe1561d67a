package runvm

import (
	"fmt"
	"strings"
)

// UserData is the #cloud-config `make run` gives the machine (over fw_cfg):
// the admin's key for the default user, and the host key that ssh
// already knows from known_hosts.
func UserData(authorizedKey string, hostPrivate []byte) string {
	var b strings.Builder
	b.WriteString("#cloud-config\n# Written by `make run`.\nssh_authorized_keys:\n")
	fmt.Fprintf(&b, "  - %q\n", authorizedKey)
	b.WriteString("write_files:\n  - path: /etc/ssh/ssh_host_ed25519_key\n    permissions: '0600'\n    content: |\n")
	for _, l := range strings.Split(strings.TrimRight(string(hostPrivate), "\n"), "\n") {
		b.WriteString("      " + l + "\n")
	}
	return b.String()
}
