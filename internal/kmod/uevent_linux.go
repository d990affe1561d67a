package kmod

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// UeventConn receives the kernel's device events.
type UeventConn struct{ fd int }

// ListenUevents subscribes to the kernel's uevent multicast group. Open
// it before a coldplug round, so that no device falls between the two.
func ListenUevents() (*UeventConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return nil, fmt.Errorf("open uevent socket: %w", err)
	}
	// A module load sends a burst of events; a full buffer loses them
	// (ENOBUFS), which the caller answers with a coldplug round.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind uevent socket: %w", err)
	}
	return &UeventConn{fd: fd}, nil
}

// Read returns the next event from the kernel. Messages from any other
// sender are dropped: only the kernel (port 0) speaks for devices
// (udev's CVE-2009-1185 trusted a forged one). An ENOBUFS error means
// events were lost.
func (c *UeventConn) Read() (Uevent, error) {
	buf := make([]byte, maxUevent+1)
	for {
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return Uevent{}, os.NewSyscallError("recvfrom uevent", err)
		}
		if nl, ok := from.(*unix.SockaddrNetlink); !ok || nl.Pid != 0 {
			continue
		}
		ev, err := ParseUevent(buf[:n])
		if err != nil {
			continue // not a kernel event we understand; nothing to act on
		}
		return ev, nil
	}
}

// Close closes the socket.
func (c *UeventConn) Close() error { return unix.Close(c.fd) }
