package container

// Device is a character device a default container may open (cgroup v2
// device program); Minor -1 is any minor.
type Device struct {
	Major, Minor int64
}

// AllowedDevices is what a container without Privileged= may open: the
// nodes its private /dev holds, and its own ptys. Nothing else, even
// when a node reaches it by a bind mount; no block device at all. A
// device cgroup program enforces it, as runc's does for Docker, and
// CAP_MKNOD is not given, so no node can be made either.
var AllowedDevices = []Device{
	{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, // null zero full random urandom
	{5, 0}, {5, 2}, // tty, ptmx
	{136, -1}, // pty slaves (devpts)
}
