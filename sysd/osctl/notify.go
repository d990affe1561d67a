package osctl

import (
	"fmt"
	"os"
	"strings"

	"github.com/coreos/go-systemd/v22/daemon"
)

// notify sends sd_notify assignments to $NOTIFY_SOCKET, as systemd-notify
// does, so a shell-script service can say READY=1 or WATCHDOG=1.
func notify(args []string) error {
	var lines []string
	for _, a := range args {
		switch {
		case a == "--ready":
			lines = append(lines, daemon.SdNotifyReady)
		case a == "--watchdog":
			lines = append(lines, daemon.SdNotifyWatchdog)
		case a == "--stopping":
			lines = append(lines, daemon.SdNotifyStopping)
		case strings.HasPrefix(a, "--status="):
			lines = append(lines, "STATUS="+strings.TrimPrefix(a, "--status="))
		case strings.Contains(a, "=") && !strings.HasPrefix(a, "-"):
			lines = append(lines, a)
		default:
			return fmt.Errorf("notify: unknown argument %q", a)
		}
	}
	if len(lines) == 0 {
		return fmt.Errorf("notify: nothing to send (try --ready)")
	}
	sent, err := daemon.SdNotify(false, strings.Join(lines, "\n"))
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	if !sent {
		return fmt.Errorf("notify: NOTIFY_SOCKET is not set (%q): this is not a Type=notify service", os.Getenv("NOTIFY_SOCKET"))
	}
	return nil
}
