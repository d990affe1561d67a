// Package network brings up sysd's networking: loopback and every
// Ethernet link, DHCPv4 with renewal, rebinding and expiry, static
// addresses, routes, MTU and DNS from user-data, /etc/resolv.conf, and a
// "network online" condition services can wait on.
package network

import "time"

// Step is what a DHCP client does next with its lease (RFC 2131 4.4.5).
type Step int

const (
	Renew  Step = iota // unicast to the server that gave it, from T1
	Rebind             // broadcast to any server, from T2
	Expire             // the lease is over: drop the address, start again
)

func (s Step) String() string { return [...]string{"renew", "rebind", "expire"}[s] }

// Timers are a lease's times: T1 and T2 default to 50% and 87.5% of the
// lease (RFC 2131) when the server does not give them.
type Timers struct {
	Start         time.Time
	Lease, T1, T2 time.Duration
}

// Next returns the step due at now, or the next one and when. A failed
// renewal is retried halfway to T2, a failed rebinding halfway to the end,
// never sooner than a minute apart (RFC 2131's advice), and never past
// the lease's end.
func (t Timers) Next(now time.Time) (Step, time.Time) {
	lease := t.Lease
	t1, t2 := t.T1, t.T2
	if t1 <= 0 || t1 >= lease {
		t1 = lease / 2
	}
	if t2 <= t1 || t2 >= lease {
		t2 = lease * 7 / 8
	}
	end := t.Start.Add(lease)
	switch {
	case !now.Before(end):
		return Expire, end
	case now.Before(t.Start.Add(t1)):
		return Renew, t.Start.Add(t1)
	case now.Before(t.Start.Add(t2)):
		return Renew, retry(now, t.Start.Add(t2))
	default:
		return Rebind, retry(now, end)
	}
}

// retry is halfway from now to limit, at least a minute, at most limit.
func retry(now, limit time.Time) time.Time {
	wait := limit.Sub(now) / 2
	if wait < time.Minute {
		wait = time.Minute
	}
	if at := now.Add(wait); at.Before(limit) {
		return at
	}
	return limit
}
