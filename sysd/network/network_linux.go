package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"berth.dev/berth/sysd/api/wire"
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
	retry    chan netlink.Link // links whose driver was still loading
}

type link struct {
	name, mac     string
	cfg           *userdata.Interface
	lease         *wire.Lease
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
		m.retry = make(chan netlink.Link, 16)
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
		case l := <-m.retry:
			if cur, err := netlink.LinkByIndex(l.Attrs().Index); err == nil {
				m.consider(ctx, cur)
			}
		case u := <-updates:
			if u.Header.Type == unix.RTM_DELLINK {
				m.forget(u.Link)
				continue
			}
			m.consider(ctx, u.Link)
		}
	}
}

// forget drops a link that is gone (a NIC unplugged): its DHCP client
// stops, without asking anything of a device that is no more, and the
// link leaves the status. A NIC plugged in later under the same name is
// a new link.
func (m *Manager) forget(l netlink.Link) {
	name := l.Attrs().Name
	m.mu.Lock()
	_, known := m.links[name]
	run := m.running[name]
	delete(m.links, name)
	delete(m.running, name)
	m.mu.Unlock()
	if !known {
		return
	}
	if run != nil {
		run.cancel()
		<-run.done
	}
	m.Logf("network: %s: removed", name)
	m.writeResolvConf()
	m.check()
}

// driverReady says whether the link's driver module has finished
// loading. A driver registers its interface before its probe ends (e100
// sets up its command block pool after register_netdev), and a link set
// up in between can oops the kernel, as it did here when coldplug loaded
// e100 while sysd watched for new links. The module is found by the
// driver's name and by the driver's module link, which the kernel adds
// only after the driver's first probes. A built-in driver, or a link
// without a device, is ready.
func driverReady(name string) bool {
	dev := filepath.Join("/sys/class/net", name, "device")
	var mods []string
	if drv, err := os.Readlink(filepath.Join(dev, "driver")); err == nil {
		mods = append(mods, strings.ReplaceAll(filepath.Base(drv), "-", "_"))
	}
	if mod, err := os.Readlink(filepath.Join(dev, "driver", "module")); err == nil {
		mods = append(mods, filepath.Base(mod))
	}
	for _, m := range mods {
		state, err := os.ReadFile(filepath.Join("/sys/module", m, "initstate"))
		if err == nil && strings.TrimSpace(string(state)) != "live" {
			return false
		}
	}
	return true
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
	m.mu.Lock()
	st, ok := m.links[a.Name]
	m.mu.Unlock()
	if (!ok || !st.seen) && !driverReady(a.Name) {
		// Looked at again shortly, from Run's loop.
		time.AfterFunc(100*time.Millisecond, func() {
			select {
			case m.retry <- l:
			case <-ctx.Done():
			}
		})
		return
	}
	carrier := a.RawFlags&unix.IFF_LOWER_UP != 0
	m.mu.Lock()
	st, ok = m.links[a.Name]
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
