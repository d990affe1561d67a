package userdata

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The network configuration a datasource hands over beside the
// user-data: cloud-init's network-config (versions 1 and 2, as NoCloud
// and config drives carry it) and OpenStack's network_data.json. Both
// become a Network, applied by the same code as berth.network.

// maxNetworkConfig bounds a network configuration: a few interfaces.
const maxNetworkConfig = 64 << 10

// ParseNetworkConfig reads cloud-init's network-config, version 1 (a
// list of physical interfaces with subnets) or 2 (netplan's ethernets),
// with or without the top-level network: key. Nothing (an empty file,
// or `config: disabled`) gives a nil Network.
func ParseNetworkConfig(source string, data []byte) (*Network, Diagnostics) {
	if len(data) > maxNetworkConfig {
		return nil, Diagnostics{{File: source, Msg: fmt.Sprintf("larger than %d KiB: ignored", maxNetworkConfig>>10)}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		d := yamlError(source, err)
		d.Fix = "nothing of the network configuration was applied"
		return nil, Diagnostics{d}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	p := &parser{source: source}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "", "", "network-config must be a mapping, got %s", kind(root))
		return nil, p.ds
	}
	path := ""
	if v := mapValue(root, "network"); v != nil {
		root, path = v, "network"
		if root.Kind != yaml.MappingNode {
			p.errorf(root, path, "", "want a mapping, got %s", kind(root))
			return nil, p.ds
		}
	}
	if v := mapValue(root, "config"); v != nil && v.Kind == yaml.ScalarNode && v.Value == "disabled" {
		return nil, nil
	}
	vn := mapValue(root, "version")
	if vn == nil {
		p.errorf(root, join(path, "version"), "add version: 2 (netplan style) or version: 1", "no version")
		return nil, p.ds
	}
	version, ok := p.integer(vn, join(path, "version"))
	if !ok {
		return nil, p.ds
	}
	nw := &Network{}
	switch version {
	case 1:
		p.netV1(root, path, nw)
	case 2:
		p.netV2(root, path, nw)
	default:
		p.errorf(vn, join(path, "version"), "write version: 1 or version: 2", "network-config version %d is not one Berth knows", version)
		return nil, p.ds
	}
	return nw, p.ds
}

// mapValue is the value of key in a mapping node, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// netV2 reads netplan's version 2: ethernets, each matched by its name or
// by match: {name, macaddress}.
func (p *parser) netV2(root *yaml.Node, path string, nw *Network) {
	bad := "Berth configures ethernets; bond, bridge and VLAN devices are not made"
	p.fields(root, path, map[string]handler{
		"version":  func(*parser, *yaml.Node, string) {},
		"renderer": func(*parser, *yaml.Node, string) {},
		"ethernets": func(p *parser, n *yaml.Node, path string) {
			if n.Kind != yaml.MappingNode {
				p.errorf(n, path, "", "want a mapping of interface names to settings, got %s", kind(n))
				return
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				id, eth := n.Content[i].Value, n.Content[i+1]
				if ifc, ok := p.ethernetV2(id, eth, join(path, id)); ok {
					nw.Interfaces = append(nw.Interfaces, ifc)
				}
			}
		},
	}, map[string]string{"bonds": bad, "bridges": bad, "vlans": bad, "wifis": bad, "tunnels": bad, "vrfs": bad, "modems": bad})
}

func (p *parser) ethernetV2(id string, n *yaml.Node, path string) (Interface, bool) {
	ifc := Interface{Name: id}
	good := true
	addr := func(n *yaml.Node, path string, cidr bool) (string, bool) {
		s, ok := p.addr(n, path, cidr)
		good = good && ok
		return s, ok
	}
	dhcp := false
	p.fields(n, path, map[string]handler{
		"match": func(p *parser, n *yaml.Node, path string) {
			var name, mac string
			p.fields(n, path, map[string]handler{
				"name":       setStr(&name),
				"macaddress": setStr(&mac),
				"driver":     func(*parser, *yaml.Node, string) {},
			}, nil)
			ifc.Name, ifc.MAC = name, mac
		},
		"set-name": func(p *parser, n *yaml.Node, path string) {
			p.warnf(n, path, "", "interfaces keep the kernel's names: not renamed")
		},
		"dhcp4": setBool(&dhcp),
		"dhcp6": func(p *parser, n *yaml.Node, path string) {
			if b, ok := p.boolean(n, path); ok && b {
				p.warnf(n, path, "", "DHCPv6 is not supported by Berth: IPv6 comes from router advertisements")
			}
		},
		"addresses": func(p *parser, n *yaml.Node, path string) {
			p.list(n, path, func(item *yaml.Node, ipath string) {
				if item.Kind == yaml.MappingNode && len(item.Content) == 2 {
					item = item.Content[0] // "10.0.0.2/24: {lifetime: …}"
				}
				if s, ok := addr(item, ipath, true); ok {
					ifc.Addresses = append(ifc.Addresses, s)
				}
			})
		},
		"gateway4": func(p *parser, n *yaml.Node, path string) { ifc.Gateway, _ = addr(n, path, false) },
		"gateway6": func(p *parser, n *yaml.Node, path string) {
			p.warnf(n, path, "add it to routes: with to: ::/0", "only one gateway per interface: gateway6 is ignored")
		},
		"routes": func(p *parser, n *yaml.Node, path string) {
			p.list(n, path, func(item *yaml.Node, ipath string) {
				var r Route
				p.fields(item, ipath, map[string]handler{
					"to": func(p *parser, n *yaml.Node, path string) {
						if s, ok := p.str(n, path); ok && (s == "default" || s == "0.0.0.0/0") {
							r.To = "0.0.0.0/0"
							return
						}
						r.To, _ = addr(n, path, true)
					},
					"via":     func(p *parser, n *yaml.Node, path string) { r.Via, _ = addr(n, path, false) },
					"metric":  func(*parser, *yaml.Node, string) {},
					"on-link": func(*parser, *yaml.Node, string) {},
				}, nil)
				switch {
				case r.To == "0.0.0.0/0" && r.Via != "" && ifc.Gateway == "":
					ifc.Gateway = r.Via
				case r.To != "" && r.Via != "":
					ifc.Routes = append(ifc.Routes, r)
				}
			})
		},
		"nameservers": func(p *parser, n *yaml.Node, path string) {
			p.fields(n, path, map[string]handler{
				"addresses": func(p *parser, n *yaml.Node, path string) {
					p.list(n, path, func(item *yaml.Node, ipath string) {
						if s, ok := addr(item, ipath, false); ok {
							ifc.DNS = append(ifc.DNS, s)
						}
					})
				},
				"search": func(p *parser, n *yaml.Node, path string) { ifc.Search, _ = p.strs(n, path, false) },
			}, nil)
		},
		"mtu":      setIntIn(&ifc.MTU, 68, 65535, "MTU", "between 68 and 65535"),
		"optional": func(*parser, *yaml.Node, string) {},
	}, nil)
	if ifc.Name == "" && ifc.MAC == "" {
		p.errorf(n, path, "add match: {name: GLOB} or match: {macaddress: ADDRESS}", "an interface needs a name or a MAC address to match")
		return ifc, false
	}
	ifc.DHCP = &dhcp
	if !dhcp && len(ifc.Addresses) == 0 {
		p.warnf(n, path, "add dhcp4: true or addresses", "neither DHCP nor an address: the interface is only brought up")
	}
	return ifc, good
}

// netV1 reads cloud-init's version 1: config is a list of entries;
// physical ones carry subnets, nameserver ones the resolvers for all.
func (p *parser) netV1(root *yaml.Node, path string, nw *Network) {
	var dns, search []string
	p.fields(root, path, map[string]handler{
		"version": func(*parser, *yaml.Node, string) {},
		"config": func(p *parser, n *yaml.Node, path string) {
			p.list(n, path, func(item *yaml.Node, ipath string) {
				typ := mapValue(item, "type")
				if typ == nil {
					p.errorf(item, ipath+".type", "add type: physical", "an entry needs a type")
					return
				}
				switch typ.Value {
				case "physical":
					if ifc, ok := p.physicalV1(item, ipath); ok {
						nw.Interfaces = append(nw.Interfaces, ifc)
					}
				case "nameserver":
					p.fields(item, ipath, map[string]handler{
						"type": func(*parser, *yaml.Node, string) {},
						"address": func(p *parser, n *yaml.Node, path string) {
							l, _ := p.strs(n, path, false)
							for _, a := range l {
								if ip := parseIP(a); ip != "" {
									dns = append(dns, ip)
								} else {
									p.errorf(n, path, "", "%q is not an IP address", a)
								}
							}
						},
						"search":    func(p *parser, n *yaml.Node, path string) { search, _ = p.strs(n, path, false) },
						"interface": func(*parser, *yaml.Node, string) {},
					}, nil)
				default:
					p.warnf(typ, ipath+".type", "", "%s entries are not supported by Berth: only physical and nameserver", typ.Value)
				}
			})
		},
	}, nil)
	for i := range nw.Interfaces {
		if len(nw.Interfaces[i].DNS) == 0 {
			nw.Interfaces[i].DNS = dns
		}
		if len(nw.Interfaces[i].Search) == 0 {
			nw.Interfaces[i].Search = search
		}
	}
}

func (p *parser) physicalV1(n *yaml.Node, path string) (Interface, bool) {
	var ifc Interface
	good := true
	dhcp := false
	p.fields(n, path, map[string]handler{
		"type":        func(*parser, *yaml.Node, string) {},
		"name":        setStr(&ifc.Name),
		"mac_address": setStr(&ifc.MAC),
		"mtu":         setIntIn(&ifc.MTU, 68, 65535, "MTU", "between 68 and 65535"),
		"subnets": func(p *parser, n *yaml.Node, path string) {
			p.list(n, path, func(item *yaml.Node, ipath string) {
				var typ, address, netmask, gateway string
				var sdns, ssearch []string
				var routes []Route
				p.fields(item, ipath, map[string]handler{
					"type":    setStr(&typ),
					"address": setStr(&address),
					"netmask": setStr(&netmask),
					"gateway": setStr(&gateway),
					"dns_nameservers": func(p *parser, n *yaml.Node, path string) {
						sdns, _ = p.strs(n, path, false)
					},
					"dns_search": func(p *parser, n *yaml.Node, path string) { ssearch, _ = p.strs(n, path, false) },
					"routes": func(p *parser, n *yaml.Node, path string) {
						p.list(n, path, func(item *yaml.Node, rpath string) {
							var network, mask, gw string
							p.fields(item, rpath, map[string]handler{
								"network": setStr(&network), "destination": setStr(&network),
								"netmask": setStr(&mask), "gateway": setStr(&gw), "metric": func(*parser, *yaml.Node, string) {},
							}, nil)
							to, err := cidrOf(network, mask)
							if err != nil || parseIP(gw) == "" {
								p.errorf(item, rpath, "write network, netmask and gateway", "route %s/%s via %q: %v", network, mask, gw, orBadGateway(err))
								good = false
								return
							}
							routes = append(routes, Route{To: to, Via: gw})
						})
					},
					"control": func(*parser, *yaml.Node, string) {},
				}, nil)
				switch typ {
				case "dhcp", "dhcp4":
					dhcp = true
				case "static":
					a, err := cidrOf(address, netmask)
					if err != nil {
						p.errorf(item, ipath+".address", "write ADDRESS/PREFIX, or address and netmask", "%v", err)
						good = false
						return
					}
					ifc.Addresses = append(ifc.Addresses, a)
					if gateway != "" {
						if parseIP(gateway) == "" {
							p.errorf(item, ipath+".gateway", "", "%q is not an IP address", gateway)
							good = false
						} else if ifc.Gateway == "" {
							ifc.Gateway = gateway
						}
					}
					ifc.Routes = append(ifc.Routes, routes...)
					for _, d := range sdns {
						if parseIP(d) == "" {
							p.errorf(item, ipath+".dns_nameservers", "", "%q is not an IP address", d)
							good = false
							continue
						}
						ifc.DNS = append(ifc.DNS, d)
					}
					ifc.Search = append(ifc.Search, ssearch...)
				case "dhcp6", "ipv6_dhcpv6-stateful", "ipv6_dhcpv6-stateless", "ipv6_slaac", "static6", "manual":
					// IPv6 comes from router advertisements; manual is up only.
				default:
					p.errorf(item, ipath+".type", "write static or dhcp", "subnet type %q is not one Berth knows", typ)
					good = false
				}
			})
		},
	}, nil)
	if ifc.MAC != "" {
		ifc.Name = "" // matched by its address; the name is what cloud-init would rename it to
	}
	if ifc.Name == "" && ifc.MAC == "" {
		p.errorf(n, path, "add name or mac_address", "a physical interface needs a name or a MAC address to match")
		return ifc, false
	}
	ifc.DHCP = &dhcp
	return ifc, good
}

func orBadGateway(err error) error {
	if err == nil {
		return errors.New("the gateway is not an IP address")
	}
	return err
}

func parseIP(s string) string {
	if ip := net.ParseIP(strings.TrimSpace(s)); ip != nil {
		return ip.String()
	}
	return ""
}

// cidrOf joins an address and a netmask (dotted, or a prefix length) into
// ADDRESS/PREFIX; an address that has its prefix already needs no mask.
func cidrOf(address, mask string) (string, error) {
	if strings.Contains(address, "/") {
		if _, _, err := net.ParseCIDR(address); err != nil {
			return "", fmt.Errorf("%q is not an address with a prefix length", address)
		}
		return address, nil
	}
	ip := net.ParseIP(address)
	if ip == nil {
		return "", fmt.Errorf("%q is not an IP address", address)
	}
	if mask == "" {
		return "", fmt.Errorf("address %s has no netmask or prefix length", address)
	}
	var ones int
	if m := net.ParseIP(mask); m != nil {
		mm := net.IPMask(m.To4())
		if ip.To4() == nil {
			mm = net.IPMask(m.To16())
		}
		var bits int
		ones, bits = mm.Size()
		if bits == 0 {
			return "", fmt.Errorf("netmask %s is not a contiguous mask", mask)
		}
	} else if _, err := fmt.Sscanf(mask, "%d", &ones); err != nil {
		return "", fmt.Errorf("netmask %q is neither a mask nor a prefix length", mask)
	}
	return fmt.Sprintf("%s/%d", ip, ones), nil
}

// ParseNetworkData reads OpenStack's network_data.json: links (matched by
// their MAC address), the networks on them (ipv4 static, ipv4_dhcp) and
// the DNS services.
func ParseNetworkData(source string, data []byte) (*Network, Diagnostics) {
	if len(data) > maxNetworkConfig {
		return nil, Diagnostics{{File: source, Msg: fmt.Sprintf("larger than %d KiB: ignored", maxNetworkConfig>>10)}}
	}
	var nd struct {
		Links []struct {
			ID  string `json:"id"`
			MAC string `json:"ethernet_mac_address"`
			MTU int    `json:"mtu"`
		} `json:"links"`
		Networks []struct {
			ID      string `json:"id"`
			Type    string `json:"type"`
			Link    string `json:"link"`
			IP      string `json:"ip_address"`
			Netmask string `json:"netmask"`
			Routes  []struct {
				Network string `json:"network"`
				Netmask string `json:"netmask"`
				Gateway string `json:"gateway"`
			} `json:"routes"`
			Services []struct {
				Type    string `json:"type"`
				Address string `json:"address"`
			} `json:"services"`
		} `json:"networks"`
		Services []struct {
			Type    string `json:"type"`
			Address string `json:"address"`
		} `json:"services"`
	}
	if err := json.Unmarshal(data, &nd); err != nil {
		return nil, Diagnostics{jsonError(source, data, err)}
	}
	var ds Diagnostics
	bad := func(format string, args ...any) {
		ds = append(ds, Diagnostic{File: source, Msg: fmt.Sprintf(format, args...)})
	}
	var dns []string
	for _, s := range nd.Services {
		if s.Type == "dns" {
			if ip := parseIP(s.Address); ip != "" {
				dns = append(dns, ip)
			} else {
				bad("services: dns address %q is not an IP address", s.Address)
			}
		}
	}
	nw := &Network{}
	idx := map[string]int{}
	for _, l := range nd.Links {
		if _, err := net.ParseMAC(l.MAC); err != nil {
			bad("links[%s]: ethernet_mac_address %q: %v", l.ID, l.MAC, err)
			continue
		}
		f := false
		idx[l.ID] = len(nw.Interfaces)
		ifc := Interface{MAC: l.MAC, DHCP: &f}
		if l.MTU >= 68 && l.MTU <= 65535 {
			ifc.MTU = l.MTU
		}
		nw.Interfaces = append(nw.Interfaces, ifc)
	}
	for _, n := range nd.Networks {
		i, ok := idx[n.Link]
		if !ok {
			bad("networks[%s]: link %q is not among the links", n.ID, n.Link)
			continue
		}
		ifc := &nw.Interfaces[i]
		switch n.Type {
		case "ipv4_dhcp":
			t := true
			ifc.DHCP = &t
		case "ipv4", "ipv6":
			a, err := cidrOf(n.IP, n.Netmask)
			if err != nil {
				bad("networks[%s]: %v", n.ID, err)
				continue
			}
			ifc.Addresses = append(ifc.Addresses, a)
			for _, r := range n.Routes {
				to, err := cidrOf(r.Network, r.Netmask)
				if err != nil || parseIP(r.Gateway) == "" {
					bad("networks[%s]: route %s/%s via %q: %v", n.ID, r.Network, r.Netmask, r.Gateway, orBadGateway(err))
					continue
				}
				if (to == "0.0.0.0/0" || to == "::/0") && ifc.Gateway == "" {
					ifc.Gateway = r.Gateway
				} else {
					ifc.Routes = append(ifc.Routes, Route{To: to, Via: r.Gateway})
				}
			}
			for _, s := range n.Services {
				if ip := parseIP(s.Address); s.Type == "dns" && ip != "" {
					ifc.DNS = append(ifc.DNS, ip)
				}
			}
		default:
			// ipv6_slaac and friends: the kernel's own autoconfiguration.
		}
	}
	for i := range nw.Interfaces {
		if len(nw.Interfaces[i].DNS) == 0 {
			nw.Interfaces[i].DNS = dns
		}
	}
	return nw, ds
}

// jsonError names the line of a JSON syntax or type error.
func jsonError(source string, data []byte, err error) Diagnostic {
	var off int64
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	line := 1 + strings.Count(string(data[:min(int(off), len(data))]), "\n")
	return Diagnostic{File: source, Line: line, Msg: "invalid JSON: " + err.Error(), Fix: "nothing of it was applied"}
}
