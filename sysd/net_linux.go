package sysd

import (
	"context"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"berth.dev/berth/sysd/network"
	"berth.dev/berth/sysd/userdata"
)

// onlineTarget is network-online.target: services ordered after it wait
// until a link has an address and there is a default route, or until the
// timeout, after which they start anyway (a machine without DHCP must
// still boot its services).
type onlineTarget struct {
	net     *network.Manager
	timeout time.Duration
	logf    func(string, ...any)
}

func (o *onlineTarget) String() string { return "waiting for the network to be online" }

func (o *onlineTarget) Wait(ctx context.Context) error {
	select {
	case <-o.net.Online():
	case <-time.After(o.timeout):
		o.logf("network: not online after %v (berth.network.online_timeout): starting the services that wait for it anyway", o.timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// onlineTimeout reads berth.network.online_timeout (default 60s).
func onlineTimeout(c *userdata.Config) time.Duration {
	if n := c.Berth.Network; n != nil && n.OnlineTimeout != "" {
		if d, err := time.ParseDuration(n.OnlineTimeout); err == nil {
			return d
		}
	}
	return 60 * time.Second
}

// setHostnameFromDHCP sets DHCP's host name unless the machine already
// has one from user-data.
func setHostnameFromDHCP(fromUserData bool, logf func(string, ...any)) func(string) {
	return func(name string) {
		if fromUserData {
			return
		}
		name, _, _ = strings.Cut(name, ".")
		if h, _ := os.Hostname(); h == name {
			return
		}
		if err := unix.Sethostname([]byte(name)); err != nil {
			logf("network: hostname %s from DHCP: %v", name, err)
			return
		}
		logf("network: hostname %s from DHCP", name)
	}
}
