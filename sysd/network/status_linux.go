package network

import (
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"berth.dev/berth/sysd/api/wire"
)

// Status reports links, addresses, routes and leases.
func (m *Manager) Status() wire.Net {
	m.init()
	var st wire.Net
	m.mu.Lock()
	st.Online = m.isOnline
	m.mu.Unlock()
	links, _ := netlink.LinkList()
	for _, l := range links {
		a := l.Attrs()
		lk := wire.Link{Name: a.Name, MAC: a.HardwareAddr.String(), Up: a.Flags&net.FlagUp != 0,
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
