package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"berth.dev/berth/sysd/atomicfile"
	"berth.dev/berth/sysd/userdata"
)

// Manager configures the machine's links and keeps them configured.
type Manager struct {
	Config     *userdata.Network // static settings; nil: DHCP everywhere
	ResolvConf string            // /etc/resolv.conf
	Logf       func(format string, args ...any)
	// SetHostname is called with DHCP's host name when user-data gave
	// none (nil: never).
	SetHostname func(name string)
	// Manage selects the links to configure; nil: every Ethernet device.
	Manage func(netlink.Link) bool

	mu       sync.Mutex
	links    map[string]*link
	online   chan struct{}
	isOnline bool
	running  map[string]*dhcpRun
}

// dhcpRun is one link's DHCP client goroutine.
type dhcpRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

type link struct {
	name, mac     string
	cfg           *userdata.Interface
	lease         *Lease
	dhcpDNS       []string
	dhcpSearch    []string
	carrier, seen bool
}

// Online is closed once a link other than loopback has an address and
// there is a default route.
func (m *Manager) Online() <-chan struct{} {
	m.init()
	return m.online
}

func (m *Manager) init() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.online == nil {
		m.online = make(chan struct{})
		m.links = map[string]*link{}
		m.running = map[string]*dhcpRun{}
	}
}

// Run brings up loopback and every Ethernet link and follows carrier
// changes until ctx ends; then it releases its leases.
func (m *Manager) Run(ctx context.Context) error {
	m.init()
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		m.Logf("network: bring up lo: %v", err)
	}
	updates := make(chan netlink.LinkUpdate, 32)
	done := make(chan struct{})
	if err := netlink.LinkSubscribe(updates, done); err != nil {
		m.Logf("network: follow link changes: %v", err)
	}
	defer close(done)
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	for _, l := range links {
		m.consider(ctx, l)
	}
	for {
		select {
		case <-ctx.Done():
			m.stopAll()
			return nil
		case u := <-updates:
			m.consider(ctx, u.Link)
		}
	}
}

// ethernet reports whether l is a real (or virtual machine's) Ethernet
// device: not loopback, not a bridge, veth or anything Docker makes.
func ethernet(l netlink.Link) bool {
	a := l.Attrs()
	if l.Type() != "device" || a.Flags&net.FlagLoopback != 0 || len(a.HardwareAddr) != 6 {
		return false
	}
	_, err := os.Stat(filepath.Join("/sys/class/net", a.Name, "device"))
	return err == nil
}

func (m *Manager) manages(l netlink.Link) bool {
	if m.Manage != nil {
		return m.Manage(l)
	}
	return ethernet(l)
}

// consider sets a link up and (re)starts its configuration when its
// carrier comes back.
func (m *Manager) consider(ctx context.Context, l netlink.Link) {
	if !m.manages(l) {
		return
	}
	a := l.Attrs()
	carrier := a.RawFlags&unix.IFF_LOWER_UP != 0
	m.mu.Lock()
	st, ok := m.links[a.Name]
	if !ok {
		st = &link{name: a.Name, mac: a.HardwareAddr.String(), cfg: m.match(a.Name, a.HardwareAddr.String())}
		m.links[a.Name] = st
	}
	was := st.carrier
	st.carrier = carrier
	first := !st.seen
	st.seen = true
	m.mu.Unlock()

	if first {
		if err := netlink.LinkSetUp(l); err != nil {
			m.Logf("network: %s: set up: %v", a.Name, err)
		}
		if st.cfg != nil && st.cfg.MTU > 0 {
			if err := netlink.LinkSetMTU(l, st.cfg.MTU); err != nil {
				m.Logf("network: %s: MTU %d: %v", a.Name, st.cfg.MTU, err)
			}
		}
		if st.cfg != nil && len(st.cfg.Addresses) > 0 {
			if err := m.static(l, st.cfg); err != nil {
				m.Logf("network: %s: %v", a.Name, err)
			}
			m.check()
		}
	}
	// DHCP starts when the carrier is there (now, or when it comes),
	// and again whenever it comes back.
	if carrier && (first || !was) {
		m.startDHCP(ctx, l, st)
	}
	if !carrier && was {
		m.Logf("network: %s: carrier lost", a.Name)
	}
}

// match finds the user-data interface settings for a link.
func (m *Manager) match(name, mac string) *userdata.Interface {
	if m.Config == nil {
		return nil
	}
	for i := range m.Config.Interfaces {
		c := &m.Config.Interfaces[i]
		if c.MAC != "" && strings.EqualFold(c.MAC, mac) {
			return c
		}
		if c.Name != "" {
			if ok, _ := filepath.Match(c.Name, name); ok {
				return c
			}
		}
	}
	return nil
}

func dhcpWanted(c *userdata.Interface) bool {
	if c == nil {
		return true
	}
	if c.DHCP != nil {
		return *c.DHCP
	}
	return len(c.Addresses) == 0
}

// static applies addresses, the gateway and routes.
// Equivalent to: ip addr replace A dev L; ip route replace default via G
func (m *Manager) static(l netlink.Link, c *userdata.Interface) error {
	var errs []error
	for _, a := range c.Addresses {
		addr, err := netlink.ParseAddr(a)
		if err == nil {
			err = netlink.AddrReplace(l, addr)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("address %s: %w", a, err))
		}
	}
	if c.Gateway != "" {
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.ParseIP(c.Gateway)}
		if err := netlink.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("default route via %s: %w", c.Gateway, err))
		}
	}
	for _, rt := range c.Routes {
		_, dst, _ := net.ParseCIDR(rt.To)
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: dst, Gw: net.ParseIP(rt.Via)}
		if err := netlink.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("route %s via %s: %w", rt.To, rt.Via, err))
		}
	}
	m.writeResolvConf()
	return errors.Join(errs...)
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
	st.lease = &Lease{Address: ipn.String(), Server: ack.ServerIdentifier().String(), Router: router, DNS: dns,
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

// writeResolvConf writes static DNS first, then DHCP's, and the search
// domains.
func (m *Manager) writeResolvConf() {
	if m.ResolvConf == "" {
		return
	}
	dns, search := m.dns()
	var b strings.Builder
	b.WriteString("# Written by sysd from user-data (berth.network) and DHCP.\n")
	for _, ns := range dns {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if old, _ := os.ReadFile(m.ResolvConf); string(old) == b.String() {
		return
	}
	if err := atomicfile.Write(m.ResolvConf, []byte(b.String()), 0o644); err != nil {
		m.Logf("network: %v", err)
	}
}

func (m *Manager) dns() (dns, search []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	add := func(l *[]string, v ...string) {
		for _, x := range v {
			if !seen[x] {
				seen[x] = true
				*l = append(*l, x)
			}
		}
	}
	names := make([]string, 0, len(m.links))
	for n := range m.links {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if c := m.links[n].cfg; c != nil {
			add(&dns, c.DNS...)
			add(&search, c.Search...)
		}
	}
	for _, n := range names {
		add(&dns, m.links[n].dhcpDNS...)
		add(&search, m.links[n].dhcpSearch...)
	}
	return dns, search
}

// check closes Online once a non-loopback link has an address and there
// is a default route.
func (m *Manager) check() {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return
	}
	hasDefault := false
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw != nil {
			hasDefault = true
		}
	}
	if !hasDefault {
		return
	}
	links, _ := netlink.LinkList()
	for _, l := range links {
		if !m.manages(l) {
			continue
		}
		addrs, _ := netlink.AddrList(l, netlink.FAMILY_V4)
		if len(addrs) > 0 {
			m.mu.Lock()
			if !m.isOnline {
				m.isOnline = true
				close(m.online)
				m.mu.Unlock()
				m.Logf("network: online")
				return
			}
			m.mu.Unlock()
			return
		}
	}
}

// Status reports links, addresses, routes and leases.
func (m *Manager) Status() Status {
	m.init()
	var st Status
	m.mu.Lock()
	st.Online = m.isOnline
	m.mu.Unlock()
	links, _ := netlink.LinkList()
	for _, l := range links {
		a := l.Attrs()
		lk := Link{Name: a.Name, MAC: a.HardwareAddr.String(), Up: a.Flags&net.FlagUp != 0,
			Carrier: a.RawFlags&unix.IFF_LOWER_UP != 0, MTU: a.MTU, Mode: "unmanaged"}
		addrs, _ := netlink.AddrList(l, netlink.FAMILY_ALL)
		for _, ad := range addrs {
			lk.Addresses = append(lk.Addresses, ad.IPNet.String())
		}
		m.mu.Lock()
		if s, ok := m.links[a.Name]; ok {
			switch {
			case s.cfg != nil && len(s.cfg.Addresses) > 0 && dhcpWanted(s.cfg):
				lk.Mode = "static+dhcp"
			case s.cfg != nil && len(s.cfg.Addresses) > 0:
				lk.Mode = "static"
			default:
				lk.Mode = "dhcp"
			}
			if s.lease != nil {
				cp := *s.lease
				lk.Lease = &cp
			}
		} else if a.Flags&net.FlagLoopback != 0 {
			lk.Mode = "loopback"
		}
		m.mu.Unlock()
		st.Links = append(st.Links, lk)
	}
	routes, _ := netlink.RouteList(nil, netlink.FAMILY_V4)
	for _, r := range routes {
		dst := "default"
		if r.Dst != nil && r.Dst.String() != "0.0.0.0/0" {
			dst = r.Dst.String()
		}
		s := dst
		if r.Gw != nil {
			s += " via " + r.Gw.String()
		}
		if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
			s += " dev " + l.Attrs().Name
		}
		st.Routes = append(st.Routes, s)
	}
	st.DNS, st.Search = m.dns()
	return st
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
