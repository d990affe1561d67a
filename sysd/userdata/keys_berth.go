package userdata

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"berth.dev/berth/update"
)

func (p *parser) berth(n *yaml.Node, path string, b *Berth) {
	var coordination *yaml.Node // where coordination: swarm was asked for
	defer func() {
		if coordination != nil && b.Update != nil && b.Update.Coordination == CoordinationSwarm && b.Swarm == nil {
			p.errorf(coordination, join(path, "update.coordination"), "add berth.swarm (role, join, secret), or remove coordination",
				"coordination swarm needs this machine in a swarm: it reboots without asking")
			b.Update.Coordination = CoordinationNone
		}
	}()
	p.fields(n, path, map[string]handler{
		"services": func(p *parser, n *yaml.Node, path string) {
			var svcs []Service
			p.list(n, path, func(item *yaml.Node, ipath string) {
				s := Service{Enabled: true}
				p.fields(item, ipath, map[string]handler{
					"name": func(p *parser, n *yaml.Node, path string) {
						if v, ok := p.str(n, path); ok {
							if !strings.HasSuffix(v, ".service") || strings.Contains(v, "/") {
								p.errorf(n, path, "name it NAME.service", "%q is not a service file name", v)
								return
							}
							s.Name = v
						}
					},
					"content": setStr(&s.Content),
					"enabled": setBool(&s.Enabled),
				}, nil)
				if s.Name == "" {
					p.errorf(item, ipath+".name", "add name: NAME.service", "a service needs a name")
					return
				}
				svcs = append(svcs, s)
			})
			b.Services = svcs
		},
		"network": func(p *parser, n *yaml.Node, path string) {
			net := &Network{}
			p.fields(n, path, map[string]handler{
				"interfaces": func(p *parser, n *yaml.Node, path string) {
					p.list(n, path, func(item *yaml.Node, ipath string) {
						if i, ok := p.iface(item, ipath); ok {
							net.Interfaces = append(net.Interfaces, i)
						}
					})
				},
				"online_timeout": setStr(&net.OnlineTimeout),
			}, nil)
			b.Network = net
		},
		"update": func(p *parser, n *yaml.Node, path string) {
			u := &Update{}
			p.fields(n, path, map[string]handler{
				"server":  setStr(&u.Server),
				"channel": setStr(&u.Channel),
				"strategy": func(p *parser, n *yaml.Node, path string) {
					if s, ok := p.str(n, path); ok {
						if st, err := update.ParseStrategy(s); err == nil {
							u.Strategy = st
						} else {
							p.errorf(n, path, "off, check, download or reboot", "%v", err)
						}
					}
				},
				"interval":       setDuration(&u.Interval),
				"health_timeout": setDuration(&u.HealthTimeout),
				"trial_timeout":  setDuration(&u.TrialTimeout),
				"reboot_window": func(p *parser, n *yaml.Node, path string) {
					if s, ok := p.str(n, path); ok {
						if _, err := ParseWindow(s); err != nil {
							p.errorf(n, path, "write [DAYS ]HH:MM-HH:MM (UTC), e.g. Sun 02:00-04:00", "%v", err)
							return
						}
						u.RebootWindow = s
					}
				},
				"tries": setIntIn(&u.Tries, 1, 9, "tries", "give 1 to 9"),
				"coordination": func(p *parser, n *yaml.Node, path string) {
					if s, ok := p.str(n, path); ok {
						switch Coordination(s) {
						case CoordinationSwarm:
							u.Coordination = CoordinationSwarm
							coordination = n
						case "none", "off":
							u.Coordination = CoordinationNone
						default:
							p.errorf(n, path, "write coordination: swarm (with berth.swarm), or leave it out", "%q is not a coordination", s)
						}
					}
				},
				"max_rebooting":  setIntIn(&u.MaxRebooting, 1, 100, "max_rebooting", "give 1 to 100"),
				"reboot_timeout": setDuration(&u.RebootTimeout),
				"health_checks": func(p *parser, n *yaml.Node, path string) {
					if l, ok := p.strs(n, path, false); ok {
						for i, c := range l {
							if !strings.HasPrefix(c, "http://") && !strings.HasPrefix(c, "https://") && !strings.HasPrefix(c, "tcp://") {
								p.errorf(n, fmt.Sprintf("%s[%d]", path, i), "write http://HOST:PORT/PATH or tcp://HOST:PORT", "check %q is not a URL", c)
								continue
							}
							u.HealthChecks = append(u.HealthChecks, c)
						}
					}
				},
			}, nil)
			b.Update = u
		},
		"docker": func(p *parser, n *yaml.Node, path string) {
			var m map[string]any
			if n.Kind != yaml.MappingNode || n.Decode(&m) != nil {
				p.errorf(n, path, "write daemon.json's settings as a mapping", "want a mapping, got %s", kind(n))
				return
			}
			// JSON objects have string keys: a YAML key such as 1 or
			// true below would make the whole daemon.json unwritable.
			if bad, at := nonStringKey(n, path); bad != nil {
				p.errorf(bad, at, "quote it", "daemon.json keys are strings, not %s (nothing of berth.docker was applied)", strings.TrimPrefix(bad.Tag, "!!"))
				return
			}
			if _, err := json.Marshal(m); err != nil {
				p.errorf(n, path, "", "not expressible as daemon.json: %v (nothing of berth.docker was applied)", err)
				return
			}
			// docker.service sets these on dockerd's command line, and
			// dockerd refuses to start when daemon.json sets them too.
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i].Value; k == "hosts" || k == "group" {
					p.errorf(n.Content[i], join(path, k), "remove it: Berth gives dockerd its socket (/run/berth/docker/docker.sock) and group (docker)",
						"not written to daemon.json: dockerd would refuse to start with it set twice")
					delete(m, k)
				}
			}
			b.Docker = m
		},
		"sysctl": func(p *parser, n *yaml.Node, path string) {
			if n.Kind != yaml.MappingNode {
				p.errorf(n, path, "", "want a mapping of sysctl names to values, got %s", kind(n))
				return
			}
			b.Sysctl = map[string]string{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				if v, ok := p.str(n.Content[i+1], join(path, n.Content[i].Value)); ok {
					b.Sysctl[n.Content[i].Value] = v
				}
			}
		},
		"modules": func(p *parser, n *yaml.Node, path string) { b.Modules, _ = p.strs(n, path, false) },
		"proxy": func(p *parser, n *yaml.Node, path string) {
			px := &Proxy{}
			proxyURL := func(dst *string) handler {
				return func(p *parser, n *yaml.Node, path string) {
					if s, ok := p.str(n, path); ok {
						if err := checkProxyURL(s); err != nil {
							p.errorf(n, path, "write http://HOST:PORT (or https://, socks5://)", "%v", err)
							return
						}
						*dst = s
					}
				}
			}
			p.fields(n, path, map[string]handler{
				"http":  proxyURL(&px.HTTP),
				"https": proxyURL(&px.HTTPS),
				"no_proxy": func(p *parser, n *yaml.Node, path string) {
					px.NoProxy, _ = p.strs(n, path, true)
				},
			}, nil)
			if px.HTTP != "" || px.HTTPS != "" {
				b.Proxy = px
			}
		},
		"swarm": func(p *parser, n *yaml.Node, path string) { b.Swarm = p.swarm(n, path) },
		"storage": func(p *parser, n *yaml.Node, path string) {
			st := &Storage{Grow: true}
			p.fields(n, path, map[string]handler{"grow": setBool(&st.Grow)}, nil)
			b.Storage = st
		},
		"install": func(p *parser, n *yaml.Node, path string) {
			in := &Install{}
			p.fields(n, path, map[string]handler{
				"disk":   setStr(&in.Disk),
				"reboot": setBool(&in.Reboot),
				"force":  setBool(&in.Force),
			}, nil)
			if in.Disk == "" {
				p.errorf(n, path, "write disk: /dev/sda, or disk: largest", "names no disk: nothing is installed")
				return
			}
			if in.Disk != LargestDisk && !strings.HasPrefix(in.Disk, "/dev/") {
				p.errorf(n, join(path, "disk"), "write disk: /dev/sda, or disk: largest", "%q is neither a device (/dev/…) nor largest: nothing is installed", in.Disk)
				return
			}
			b.Install = in
		},
	}, nil)
}

// swarm reads berth.swarm; nil when it is unusable (the machine then
// stays out of any swarm, and says why).
func (p *parser) swarm(n *yaml.Node, path string) *Swarm {
	sw := &Swarm{}
	good := true
	p.fields(n, path, map[string]handler{
		"role": func(p *parser, n *yaml.Node, path string) {
			if s, ok := p.str(n, path); ok {
				switch r := SwarmRole(s); r {
				case SwarmManager, SwarmWorker:
					sw.Role = r
				default:
					p.errorf(n, path, "write role: manager or role: worker", "%q is not a swarm role", s)
					good = false
				}
			}
		},
		"join": func(p *parser, n *yaml.Node, path string) {
			if s, ok := p.str(n, path); ok {
				if err := checkHostPort(s); err != nil {
					p.errorf(n, path, "write a manager's address: 192.168.77.11, or HOST:PORT of its fleet endpoint", "%v", err)
					good = false
					return
				}
				sw.Join = s
			}
		},
		"secret": func(p *parser, n *yaml.Node, path string) {
			if s, ok := p.str(n, path); ok {
				// The value is never repeated in the message.
				if len(s) < MinSecretLen {
					p.errorf(n, path, "make one with: openssl rand -hex 32", "the secret has %d characters: at least %d are needed", len(s), MinSecretLen)
					good = false
					return
				}
				sw.Secret = Secret(s)
			}
		},
		"advertise": setStr(&sw.Advertise),
	}, nil)
	if !good {
		return nil
	}
	if sw.Role == "" {
		p.errorf(n, join(path, "role"), "add role: manager or role: worker", "the machine's swarm role is missing: it joins no swarm")
		return nil
	}
	if sw.Secret == "" {
		p.errorf(n, join(path, "secret"), "add the cluster's secret (openssl rand -hex 32)", "the swarm's secret is missing: it joins no swarm")
		return nil
	}
	if sw.Role == SwarmWorker && sw.Join == "" {
		p.errorf(n, join(path, "join"), "add join: a manager's address", "a worker needs a manager to join: it joins no swarm")
		return nil
	}
	return sw
}

// checkHostPort says why s is neither a host nor HOST:PORT.
func checkHostPort(s string) error {
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	}
	if host == "" || strings.ContainsAny(host, "/ ") {
		return fmt.Errorf("%q is not an address", s)
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
		}
	}
	return nil
}

func (p *parser) iface(n *yaml.Node, path string) (Interface, bool) {
	var i Interface
	good := true
	addr := func(p *parser, n *yaml.Node, path string, cidr bool) (string, bool) {
		s, ok := p.addr(n, path, cidr)
		good = good && ok
		return s, ok
	}
	p.fields(n, path, map[string]handler{
		"name": setStr(&i.Name),
		"mac":  setStr(&i.MAC),
		"dhcp": func(p *parser, n *yaml.Node, path string) {
			if b, ok := p.boolean(n, path); ok {
				i.DHCP = &b
			}
		},
		"addresses": func(p *parser, n *yaml.Node, path string) {
			p.list(n, path, func(item *yaml.Node, ipath string) {
				if s, ok := addr(p, item, ipath, true); ok {
					i.Addresses = append(i.Addresses, s)
				}
			})
		},
		"gateway": func(p *parser, n *yaml.Node, path string) { i.Gateway, _ = addr(p, n, path, false) },
		"routes": func(p *parser, n *yaml.Node, path string) {
			p.list(n, path, func(item *yaml.Node, ipath string) {
				var r Route
				p.fields(item, ipath, map[string]handler{
					"to":  func(p *parser, n *yaml.Node, path string) { r.To, _ = addr(p, n, path, true) },
					"via": func(p *parser, n *yaml.Node, path string) { r.Via, _ = addr(p, n, path, false) },
				}, nil)
				if r.To != "" && r.Via != "" {
					i.Routes = append(i.Routes, r)
				}
			})
		},
		"mtu": setIntIn(&i.MTU, 68, 65535, "MTU", "between 68 and 65535"),
		"dns": func(p *parser, n *yaml.Node, path string) {
			p.list(n, path, func(item *yaml.Node, ipath string) {
				if s, ok := addr(p, item, ipath, false); ok {
					i.DNS = append(i.DNS, s)
				}
			})
		},
		"search": func(p *parser, n *yaml.Node, path string) { i.Search, _ = p.strs(n, path, false) },
	}, nil)
	if i.Name == "" && i.MAC == "" {
		p.errorf(n, path, "add name: GLOB or mac: ADDRESS", "an interface needs a name or a mac to match")
		return i, false
	}
	return i, good
}

// nonStringKey finds the first mapping key below n that YAML reads as
// something other than a string, and its path.
func nonStringKey(n *yaml.Node, path string) (*yaml.Node, string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Tag != "!!str" && k.Tag != "!!merge" {
				return k, join(path, k.Value)
			}
			if bad, at := nonStringKey(n.Content[i+1], join(path, k.Value)); bad != nil {
				return bad, at
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if bad, at := nonStringKey(c, fmt.Sprintf("%s[%d]", path, i)); bad != nil {
				return bad, at
			}
		}
	}
	return nil, ""
}

// addr reads an IP address, or with cidr an address with its prefix
// length.
func (p *parser) addr(n *yaml.Node, path string, cidr bool) (string, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	if cidr {
		if _, _, err := net.ParseCIDR(s); err != nil {
			p.errorf(n, path, "write ADDRESS/PREFIX, e.g. 10.0.2.15/24", "%q is not an address with a prefix length", s)
			return "", false
		}
	} else if net.ParseIP(s) == nil {
		p.errorf(n, path, "", "%q is not an IP address", s)
		return "", false
	}
	return s, true
}

// checkProxyURL says why s is not a proxy URL.
func checkProxyURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("proxy %q does not parse: %v", s, err)
	}
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		return fmt.Errorf("proxy %q: the scheme must be http, https or socks5", s)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("proxy %q has no host", s)
	}
	return nil
}

// caCerts reads ca_certs: trusted (a list of PEM texts, each holding one
// or more certificates), remove_defaults. A text that is not PEM, or a
// certificate that does not parse, is named with its line and left out.
func (p *parser) caCerts(n *yaml.Node, path string) *CACerts {
	cc := &CACerts{}
	trusted := func(p *parser, n *yaml.Node, path string) {
		p.list(n, path, func(item *yaml.Node, ipath string) {
			s, ok := p.str(item, ipath)
			if !ok {
				return
			}
			if err := checkPEM(s); err != nil {
				p.errorf(item, ipath, "paste the certificate with its -----BEGIN CERTIFICATE----- and -----END CERTIFICATE----- lines", "%v", err)
				return
			}
			cc.Trusted = append(cc.Trusted, strings.TrimSpace(s)+"\n")
		})
	}
	p.fields(n, path, map[string]handler{
		"trusted":         trusted,
		"remove_defaults": setBool(&cc.RemoveDefaults),
		"remove-defaults": setBool(&cc.RemoveDefaults),
	}, nil)
	return cc
}

// checkPEM says why s is not one or more PEM certificates.
func checkPEM(s string) error {
	rest := []byte(s)
	n := 0
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return fmt.Errorf("a %s is not a certificate", blk.Type)
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			return fmt.Errorf("certificate %d does not parse: %v", n+1, err)
		}
		n++
	}
	if n == 0 {
		return errors.New("not a PEM certificate")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return fmt.Errorf("text after certificate %d is not PEM", n)
	}
	return nil
}
