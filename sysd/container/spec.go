// Package container is sysd's runtime for system services: each one runs
// in new mount, PID, UTS, IPC and cgroup namespaces (network private, none
// or the host's), pivot_root'ed into a read-only image, with a minimal
// /dev, Docker's masked and read-only /proc paths, a bounded capability set
// and no_new_privs. sysd re-executes itself as the container's first
// process (InitName), which builds the mounts inside the new namespaces
// and then executes the service; no runc or containerd is involved.
package container

import "strings"

// InitName is argv[0] of the re-executed helper that becomes the container.
const InitName = "berth-container-init"

// Mount is one mount inside the container, applied in order after the
// defaults (/proc, /dev, /sys, /run, /tmp).
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	Type     string `json:"type"` // "bind" or a file system type such as tmpfs
	Data     string `json:"data,omitempty"`
	ReadOnly bool   `json:"ro,omitempty"`
}

// DelegateLeaf is the cgroup below a delegated container's own where
// its processes run (cgroup v2 allows none beside child groups).
const DelegateLeaf = "init"

// Spec is everything the runtime needs to start one container.
type Spec struct {
	Name    string   `json:"name"`
	Root    string   `json:"root"`    // directory holding the root file system, mounted read-only
	Staging string   `json:"staging"` // empty directory on the host to assemble the root at
	Args    []string `json:"args"`
	Env     []string `json:"env"`
	Dir     string   `json:"dir,omitempty"`
	User    string   `json:"user,omitempty"`  // name or uid, looked up in the container's /etc/passwd
	Group   string   `json:"group,omitempty"` // name or gid
	Caps    []string `json:"caps"`            // the bounding, permitted and effective set
	Network string   `json:"network"`         // host, none, private
	PIDHost bool     `json:"pid_host,omitempty"`
	UTSHost bool     `json:"uts_host,omitempty"` // the host's host name, not Hostname
	TTY     bool     `json:"tty,omitempty"`      // stdin is a terminal: make it the controlling one
	// Propagation is systemd's MountFlags: "private" (or empty) takes no
	// host mount made later; "slave" receives them; "shared" also makes
	// the container's root a shared peer group for its own copies.
	Propagation string `json:"propagation,omitempty"`
	// Delegate gives the container its cgroup (writable) and moves its
	// processes into the leaf DelegateLeaf below it, so it can make child
	// groups with every controller.
	Delegate bool `json:"delegate,omitempty"`
	// Join runs Args in the namespaces of a running container (health
	// checks): the caller has joined them; the root is open on fd 5, the
	// cgroup and mount namespaces (joined by the child) on fds 6 and 7.
	Join     bool   `json:"join,omitempty"`
	Hostname string `json:"hostname"`
	// Privileged gives every capability, the host's /dev, writable /sys
	// and no masked paths, and does not set no_new_privs.
	Privileged bool    `json:"privileged,omitempty"`
	Mounts     []Mount `json:"mounts,omitempty"`
	// Helper is the binary re-executed as InitName; empty means this
	// one (/proc/self/exe).
	Helper string `json:"-"`
	// NotifySocket is a host path bind-mounted at NotifyPath.
	NotifySocket string `json:"notify_socket,omitempty"`
}

// NotifyPath is where a service finds its NOTIFY_SOCKET.
const NotifyPath = "/run/notify.sock"

// DefaultCaps is Docker's default set (moby's oci/caps/defaults.go)
// without CAP_MKNOD: Docker can hand that out only because its device
// controller refuses to open what is made; a system service has no
// reason to make device nodes. Add it with Capabilities= if one must.
var DefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// MaskedPaths are hidden from unprivileged containers, as Docker does.
var MaskedPaths = []string{
	"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
	"/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

// ReadonlyPaths are read-only in unprivileged containers, as in Docker.
var ReadonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// DefaultPath is PATH when the unit sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return true
		}
	}
	return false
}
