package notify

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// Socket is a NOTIFY_SOCKET for one service; it is bind-mounted into the
// service's container, so each service has its own and cannot speak for
// another.
type Socket struct {
	conn *net.UnixConn
	Path string
}

// Listen creates the socket at path (replacing a stale one) and asks the
// kernel to attach each sender's credentials.
func Listen(path string) (*Socket, error) {
	_ = os.Remove(path)
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("listen on notify socket %s: %w", path, err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}); err != nil || serr != nil {
		c.Close()
		return nil, fmt.Errorf("SO_PASSCRED on %s: %v %v", path, err, serr)
	}
	return &Socket{conn: c, Path: path}, nil
}

// Read blocks for the next message.
func (s *Socket) Read() (Message, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	n, oobn, _, _, err := s.conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return Message{}, fmt.Errorf("read %s: %w", s.Path, err)
	}
	m := Parse(buf[:n])
	if scms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, scm := range scms {
			if cred, err := unix.ParseUnixCredentials(&scm); err == nil {
				m.Pid = int(cred.Pid)
			}
		}
	}
	return m, nil
}

// Close closes and removes the socket.
func (s *Socket) Close() error {
	err := s.conn.Close()
	os.Remove(s.Path)
	return err
}
