package fleet

import (
	"log"
	"strings"
)

// refusalLog turns net/http's server errors into fleet log lines. A
// failed TLS handshake is, on this endpoint, mostly a peer with another
// secret: its client refuses this manager's key.
func refusalLog(logf func(string, ...any)) *log.Logger {
	return log.New(writerFunc(func(b []byte) (int, error) {
		line := strings.TrimSpace(string(b))
		if rest, ok := strings.CutPrefix(line, "http: TLS handshake error from "); ok {
			from, why, _ := strings.Cut(rest, ": ")
			logf("fleet: refused %s: the TLS handshake failed (%s): a machine with another secret, or not a Berth machine", from, why)
		} else {
			logf("fleet: %s", line)
		}
		return len(b), nil
	}), "", 0)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
