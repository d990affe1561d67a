package network

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"

	"berth.dev/berth/sysd/api/wire"
)

// dhcpRun is one link's DHCP client goroutine.
type dhcpRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (m *Manager) startDHCP(ctx context.Context, l netlink.Link, st *link) {
	if !dhcpWanted(st.cfg) {
		return
	}
	m.mu.Lock()
	old := m.running[st.name]
	m.mu.Unlock()
	if old != nil {
		// The old client releases its lease and drops its address
		// before the new one asks: they must not interleave.
		old.cancel()
		<-old.done
	}
	lctx, cancel := context.WithCancel(ctx)
	run := &dhcpRun{cancel: cancel, done: make(chan struct{})}
	m.mu.Lock()
	m.running[st.name] = run
	m.mu.Unlock()
	go func() {
		defer close(run.done)
		m.dhcp(lctx, l, st)
	}()
}

func (m *Manager) stopAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.running {
		r.cancel()
	}
}

// dhcp gets a lease and keeps it: renew from T1, rebind from T2, start
// over when it expires; a server that does not answer is asked again
// with backoff, and never holds up anything else.
func (m *Manager) dhcp(ctx context.Context, l netlink.Link, st *link) {
	name := l.Attrs().Name
	backoff := time.Second
	quiet := false
	for ctx.Err() == nil {
		c, err := nclient4.New(name, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(2))
		if err != nil {
			m.Logf("network: %s: DHCP: %v", name, err)
			sleep(ctx, 5*time.Second)
			continue
		}
		lease, err := c.Request(ctx, m.hostnameOption())
		if err != nil {
			c.Close()
			if !quiet {
				m.Logf("network: %s: no DHCP lease yet (%v); asking again in the background", name, err)
				quiet = true
			}
			sleep(ctx, backoff)
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff, quiet = time.Second, false
		m.bind(l, st, lease, "bound")
		m.keep(ctx, c, l, st, lease)
		c.Close()
	}
}

// keep renews and rebinds lease until it expires or ctx ends.
func (m *Manager) keep(ctx context.Context, c *nclient4.Client, l netlink.Link, st *link, lease *nclient4.Lease) {
	name := l.Attrs().Name
	for {
		t := timers(lease)
		step, at := t.Next(time.Now())
		if step == Expire {
			m.Logf("network: %s: DHCP lease on %s expired", name, lease.ACK.YourIPAddr)
			m.unbind(l, st, lease, true)
			return
		}
		select {
		case <-ctx.Done():
			if err := c.Release(lease); err == nil {
				m.Logf("network: %s: released %s", name, lease.ACK.YourIPAddr)
			}
			// The address goes; resolv.conf stays for what runs until
			// the end, and is written afresh at the next boot.
			m.unbind(l, st, lease, false)
			return
		case <-time.After(time.Until(at)):
		}
		step, _ = t.Next(time.Now())
		m.setLeaseState(st, map[Step]string{Renew: "renewing", Rebind: "rebinding"}[step])
		var next *nclient4.Lease
		var err error
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if step == Renew {
			next, err = c.Renew(rctx, lease)
		} else if step == Rebind {
			next, err = c.Request(rctx, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(lease.ACK.YourIPAddr)))
		}
		cancel()
		if err != nil {
			var nak *nclient4.ErrNak
			if errors.As(err, &nak) {
				m.Logf("network: %s: server refused the lease (NAK): starting over", name)
				m.unbind(l, st, lease, true)
				return
			}
			continue
		}
		if step != Expire {
			lease = next
			m.bind(l, st, lease, "bound")
		}
	}
}

func timers(l *nclient4.Lease) Timers {
	t := Timers{Start: l.CreationTime, Lease: l.ACK.IPAddressLeaseTime(time.Hour)}
	t.T1 = l.ACK.IPAddressRenewalTime(0)
	t.T2 = l.ACK.IPAddressRebindingTime(0)
	return t
}

func (m *Manager) hostnameOption() dhcpv4.Modifier {
	h, _ := os.Hostname()
	return dhcpv4.WithOption(dhcpv4.OptHostName(h))
}

// bind applies a lease: the address, the default route, DNS.
// Equivalent to: ip addr replace A/P dev L valid_lft T; ip route replace default via R
func (m *Manager) bind(l netlink.Link, st *link, lease *nclient4.Lease, state string) {
	ack := lease.ACK
	name := l.Attrs().Name
	mask := ack.SubnetMask()
	if mask == nil {
		mask = ack.YourIPAddr.DefaultMask()
	}
	ipn := &net.IPNet{IP: ack.YourIPAddr, Mask: mask}
	lt := ack.IPAddressLeaseTime(time.Hour)
	addr := &netlink.Addr{IPNet: ipn, ValidLft: int(lt.Seconds()), PreferedLft: int(lt.Seconds())}
	if err := netlink.AddrReplace(l, addr); err != nil {
		m.Logf("network: %s: address %s: %v", name, ipn, err)
	}
	router := ""
	if rs := ack.Router(); len(rs) > 0 && (st.cfg == nil || st.cfg.Gateway == "") {
		router = rs[0].String()
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: rs[0]}
		if err := netlink.RouteReplace(r); err != nil {
			m.Logf("network: %s: default route via %s: %v", name, router, err)
		}
	}
	var dns []string
	for _, ip := range ack.DNS() {
		dns = append(dns, ip.String())
	}
	m.mu.Lock()
	first := st.lease == nil
	st.lease = &wire.Lease{Address: ipn.String(), Server: ack.ServerIdentifier().String(), Router: router, DNS: dns,
		Start: lease.CreationTime, Expires: lease.CreationTime.Add(lt), State: state}
	st.dhcpDNS = dns
	st.dhcpSearch = nil
	if dl := ack.DomainSearch(); dl != nil {
		st.dhcpSearch = dl.Labels
	} else if d := ack.DomainName(); d != "" {
		st.dhcpSearch = []string{d}
	}
	m.mu.Unlock()
	if first {
		m.Logf("network: %s: DHCP lease %s from %s, router %s, DNS %s, for %v", name, ipn, ack.ServerIdentifier(), router, strings.Join(dns, " "), lt)
	}
	if h := ack.HostName(); h != "" && m.SetHostname != nil {
		m.SetHostname(h)
	}
	m.writeResolvConf()
	m.check()
}

func (m *Manager) unbind(l netlink.Link, st *link, lease *nclient4.Lease, rewrite bool) {
	mask := lease.ACK.SubnetMask()
	if mask == nil {
		mask = lease.ACK.YourIPAddr.DefaultMask()
	}
	netlink.AddrDel(l, &netlink.Addr{IPNet: &net.IPNet{IP: lease.ACK.YourIPAddr, Mask: mask}})
	m.mu.Lock()
	st.lease, st.dhcpDNS, st.dhcpSearch = nil, nil, nil
	m.mu.Unlock()
	if rewrite {
		m.writeResolvConf()
	}
}

func (m *Manager) setLeaseState(st *link, s string) {
	m.mu.Lock()
	if st.lease != nil {
		st.lease.State = s
	}
	m.mu.Unlock()
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
