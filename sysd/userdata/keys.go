package userdata

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"io"
	"net"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// unsupportedTop are cloud-init keys Berth knows and does not do.
var unsupportedTop = map[string]string{
	"packages":           "Berth has no package manager; run software in containers",
	"package_update":     "Berth has no package manager; updates come as whole images (os-ctl upgrade)",
	"package_upgrade":    "Berth has no package manager; updates come as whole images (os-ctl upgrade)",
	"apt":                "Berth has no package manager",
	"yum_repos":          "Berth has no package manager",
	"snap":               "Berth has no package manager",
	"growpart":           "the root file system is a read-only image",
	"resize_rootfs":      "the root file system is a read-only image",
	"mounts":             "give a service a Volume= instead",
	"disk_setup":         "not supported",
	"fs_setup":           "not supported",
	"chpasswd":           "set passwd: (a hash) on the entry in users:",
	"power_state":        "run `os-ctl reboot` or `os-ctl poweroff` from runcmd",
	"phone_home":         "not supported",
	"final_message":      "not supported",
	"locale":             "Berth has one locale, C.UTF-8",
	"keyboard":           "not supported",
	"rsyslog":            "logs are kept by sysd (os-ctl logs)",
	"manage_resolv_conf": "give berth.network interfaces dns: and search:",
	"resolv_conf":        "give berth.network interfaces dns: and search:",
	"disable_root":       "root login over SSH is always disabled",
	"ssh_deletekeys":     "host keys are generated once on first boot and kept on STATE",
	"ssh_genkeytypes":    "host keys are generated once on first boot and kept on STATE",
	"preserve_hostname":  "the hostname comes from user-data, else DHCP, else berth-<machine id>",
}

// schema returns the handlers that fill c.
func schema(c *Config) map[string]handler {
	return map[string]handler{
		"hostname": func(p *parser, n *yaml.Node, path string) {
			if s, ok := p.str(n, path); ok {
				c.Hostname = s
			}
		},
		"fqdn": func(p *parser, n *yaml.Node, path string) {
			if s, ok := p.str(n, path); ok {
				c.FQDN = s
			}
		},
		"manage_etc_hosts": func(p *parser, n *yaml.Node, path string) {
			if n.Kind == yaml.ScalarNode && n.Value == "localhost" {
				c.ManageEtcHosts = true
				return
			}
			if b, ok := p.boolean(n, path); ok {
				c.ManageEtcHosts = b
			}
		},
		"ssh_authorized_keys": func(p *parser, n *yaml.Node, path string) {
			if l, ok := p.strs(n, path, false); ok {
				c.SSHAuthorizedKeys = l
			}
		},
		"ssh_pwauth": func(p *parser, n *yaml.Node, path string) {
			if b, ok := p.boolean(n, path); ok {
				c.SSHPwauth = b
			}
		},
		"users": func(p *parser, n *yaml.Node, path string) {
			var users []User
			p.list(n, path, func(item *yaml.Node, ipath string) {
				if item.Kind == yaml.ScalarNode {
					if item.Value == "default" {
						users = append(users, User{Name: DefaultUser, Default: true})
					} else {
						users = append(users, User{Name: item.Value, LockPasswd: true})
					}
					return
				}
				if u, ok := p.user(item, ipath); ok {
					users = append(users, u)
				}
			})
			c.Users = users
		},
		"groups": func(p *parser, n *yaml.Node, path string) {
			var groups []Group
			p.list(n, path, func(item *yaml.Node, ipath string) {
				switch {
				case item.Kind == yaml.ScalarNode:
					groups = append(groups, Group{Name: item.Value})
				case item.Kind == yaml.MappingNode && len(item.Content) == 2:
					members, ok := p.strs(item.Content[1], ipath+"."+item.Content[0].Value, true)
					if ok {
						groups = append(groups, Group{Name: item.Content[0].Value, Members: members})
					}
				default:
					p.errorf(item, ipath, "write NAME or NAME: [MEMBERS]", "want a group, got %s", kind(item))
				}
			})
			c.Groups = groups
		},
		"write_files": func(p *parser, n *yaml.Node, path string) {
			var files []WriteFile
			p.list(n, path, func(item *yaml.Node, ipath string) {
				if f, ok := p.writeFile(item, ipath); ok {
					files = append(files, f)
				}
			})
			c.WriteFiles = files
		},
		"bootcmd": func(p *parser, n *yaml.Node, path string) {
			if cmds, ok := p.commands(n, path); ok {
				c.Bootcmd = cmds
			}
		},
		"runcmd": func(p *parser, n *yaml.Node, path string) {
			if cmds, ok := p.commands(n, path); ok {
				c.Runcmd = cmds
			}
		},
		"ntp": func(p *parser, n *yaml.Node, path string) {
			p.fields(n, path, map[string]handler{
				"servers": func(p *parser, n *yaml.Node, path string) {
					if l, ok := p.strs(n, path, false); ok {
						c.NTPServers = l
					}
				},
				"enabled": func(p *parser, n *yaml.Node, path string) { p.boolean(n, path) },
			}, map[string]string{"pools": "give servers:", "ntp_client": "Berth has its own client"})
		},
		"timezone": func(p *parser, n *yaml.Node, path string) {
			if s, ok := p.str(n, path); ok {
				c.Timezone = s
			}
		},
		"berth": func(p *parser, n *yaml.Node, path string) { p.berth(n, path, &c.Berth) },
	}
}

func (p *parser) user(n *yaml.Node, path string) (User, bool) {
	u := User{LockPasswd: true}
	p.fields(n, path, map[string]handler{
		"name": func(p *parser, n *yaml.Node, path string) {
			if s, ok := p.str(n, path); ok {
				u.Name = s
			}
		},
		"gecos": func(p *parser, n *yaml.Node, path string) { u.Gecos, _ = p.str(n, path) },
		"groups": func(p *parser, n *yaml.Node, path string) {
			u.Groups, _ = p.strs(n, path, true)
		},
		"shell": func(p *parser, n *yaml.Node, path string) { u.Shell, _ = p.str(n, path) },
		"sudo": func(p *parser, n *yaml.Node, path string) {
			if n.Kind == yaml.ScalarNode && (n.Value == "false" || n.Tag == "!!bool") {
				return // sudo: false means none
			}
			u.Sudo, _ = p.strs(n, path, false)
		},
		"ssh_authorized_keys": func(p *parser, n *yaml.Node, path string) {
			u.SSHAuthorizedKeys, _ = p.strs(n, path, false)
		},
		"lock_passwd": func(p *parser, n *yaml.Node, path string) {
			if b, ok := p.boolean(n, path); ok {
				u.LockPasswd = b
			}
		},
		"passwd": func(p *parser, n *yaml.Node, path string) {
			if s, ok := p.str(n, path); ok {
				if !strings.HasPrefix(s, "$") {
					p.errorf(n, path, "give a crypt(3) hash, e.g. from `mkpasswd -m sha-512`", "not a password hash")
					return
				}
				u.Passwd = s
			}
		},
		"hashed_passwd": func(p *parser, n *yaml.Node, path string) { u.Passwd, _ = p.str(n, path) },
	}, map[string]string{
		"plain_text_passwd": "plain-text passwords are not accepted: give passwd: a hash",
		"primary_group":     "every user's primary group is named after it",
		"homedir":           "home directories are /home/NAME",
		"system":            "not supported",
		"uid":               "uids are given in order from 1000",
		"ssh_import_id":     "no network key import: give ssh_authorized_keys",
		"expiredate":        "not supported",
		"inactive":          "not supported",
	})
	if u.Name == "" {
		p.errorf(n, path+".name", "add name: USER", "a user needs a name")
		return u, false
	}
	if !validName(u.Name) {
		p.errorf(n, path+".name", "letters, digits, _ and -, starting with a letter or _", "%q is not a valid user name", u.Name)
		return u, false
	}
	return u, true
}

func validName(s string) bool {
	if s == "" || len(s) > 32 || s == "root" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (i > 0 && (r == '-' || (r >= '0' && r <= '9')))
		if !ok {
			return false
		}
	}
	return true
}

func (p *parser) writeFile(n *yaml.Node, path string) (WriteFile, bool) {
	f := WriteFile{Permissions: 0o644, Owner: "root:root"}
	var content, encoding string
	var contentNode *yaml.Node
	good := true
	p.fields(n, path, map[string]handler{
		"path": func(p *parser, n *yaml.Node, path string) {
			if s, ok := p.str(n, path); ok {
				if !strings.HasPrefix(s, "/") {
					p.errorf(n, path, "give an absolute path", "%q is not absolute", s)
					good = false
					return
				}
				f.Path = s
			}
		},
		"content": func(p *parser, n *yaml.Node, path string) {
			content, _ = p.str(n, path)
			contentNode = n
		},
		"encoding": func(p *parser, n *yaml.Node, path string) {
			if s, ok := p.str(n, path); ok {
				switch s {
				case "b64", "base64", "gzip", "gz", "gz+b64", "gz+base64", "gzip+b64", "gzip+base64", "text/plain":
					encoding = s
				default:
					p.errorf(n, path, "b64, gzip or gz+b64", "unknown encoding %q", s)
					good = false
				}
			}
		},
		"permissions": func(p *parser, n *yaml.Node, path string) {
			if s, ok := p.str(n, path); ok {
				m, err := strconv.ParseUint(s, 8, 32)
				if err != nil || m > 0o7777 {
					p.errorf(n, path, "write it in octal, e.g. '0644'", "%q is not a file mode", s)
					good = false
					return
				}
				f.Permissions = uint32(m)
			}
		},
		"owner": func(p *parser, n *yaml.Node, path string) {
			if s, ok := p.str(n, path); ok {
				f.Owner = s
			}
		},
		"append": func(p *parser, n *yaml.Node, path string) { f.Append, _ = p.boolean(n, path) },
		"defer":  func(p *parser, n *yaml.Node, path string) { f.Defer, _ = p.boolean(n, path) },
	}, map[string]string{"source": "fetching content from a URL is not supported: inline it"})
	if f.Path == "" {
		if good {
			p.errorf(n, path+".path", "add path: /ABSOLUTE/PATH", "a file needs a path")
		}
		return f, false
	}
	data, err := decode(content, encoding)
	if err != nil {
		at := n
		if contentNode != nil {
			at = contentNode
		}
		p.errorf(at, path+".content", "", "cannot decode as %s: %v", encoding, err)
		return f, false
	}
	f.Content = data
	return f, good
}

// decode undoes write_files' encodings.
func decode(s, enc string) ([]byte, error) {
	data := []byte(s)
	if strings.Contains(enc, "b64") || strings.Contains(enc, "base64") {
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return nil, err
		}
		data = b
	}
	if strings.HasPrefix(enc, "gz") {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(io.LimitReader(zr, maxSize))
	}
	return data, nil
}

func decodeBase64(b []byte) []byte {
	out, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
	if err != nil {
		return b
	}
	return out
}

func (p *parser) berth(n *yaml.Node, path string, b *Berth) {
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
					"content": func(p *parser, n *yaml.Node, path string) { s.Content, _ = p.str(n, path) },
					"enabled": func(p *parser, n *yaml.Node, path string) {
						if v, ok := p.boolean(n, path); ok {
							s.Enabled = v
						}
					},
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
				"online_timeout": func(p *parser, n *yaml.Node, path string) { net.OnlineTimeout, _ = p.str(n, path) },
			}, nil)
			b.Network = net
		},
		"update": func(p *parser, n *yaml.Node, path string) {
			u := &Update{}
			p.fields(n, path, map[string]handler{
				"server":  func(p *parser, n *yaml.Node, path string) { u.Server, _ = p.str(n, path) },
				"channel": func(p *parser, n *yaml.Node, path string) { u.Channel, _ = p.str(n, path) },
				"strategy": func(p *parser, n *yaml.Node, path string) {
					if s, ok := p.str(n, path); ok {
						switch s {
						case "off", "check", "download", "reboot":
							u.Strategy = s
						default:
							p.errorf(n, path, "off, check, download or reboot", "unknown strategy %q", s)
						}
					}
				},
				"interval":      func(p *parser, n *yaml.Node, path string) { u.Interval, _ = p.str(n, path) },
				"reboot_window": func(p *parser, n *yaml.Node, path string) { u.RebootWindow, _ = p.str(n, path) },
			}, nil)
			b.Update = u
		},
		"docker": func(p *parser, n *yaml.Node, path string) {
			var m map[string]any
			if n.Kind != yaml.MappingNode || n.Decode(&m) != nil {
				p.errorf(n, path, "write daemon.json's settings as a mapping", "want a mapping, got %s", kind(n))
				return
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
	}, nil)
}

func (p *parser) iface(n *yaml.Node, path string) (Interface, bool) {
	var i Interface
	good := true
	addr := func(p *parser, n *yaml.Node, path string, cidr bool) (string, bool) {
		s, ok := p.str(n, path)
		if !ok {
			return "", false
		}
		if cidr {
			if _, _, err := net.ParseCIDR(s); err != nil {
				p.errorf(n, path, "write ADDRESS/PREFIX, e.g. 10.0.2.15/24", "%q is not an address with a prefix length", s)
				good = false
				return "", false
			}
		} else if net.ParseIP(s) == nil {
			p.errorf(n, path, "", "%q is not an IP address", s)
			good = false
			return "", false
		}
		return s, true
	}
	p.fields(n, path, map[string]handler{
		"name": func(p *parser, n *yaml.Node, path string) { i.Name, _ = p.str(n, path) },
		"mac":  func(p *parser, n *yaml.Node, path string) { i.MAC, _ = p.str(n, path) },
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
		"mtu": func(p *parser, n *yaml.Node, path string) {
			if v, ok := p.integer(n, path); ok {
				if v < 68 || v > 65535 {
					p.errorf(n, path, "between 68 and 65535", "MTU %d is out of range", v)
					return
				}
				i.MTU = v
			}
		},
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
