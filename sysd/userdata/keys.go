package userdata

import (
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
		"hostname": setStr(&c.Hostname),
		"fqdn":     setStr(&c.FQDN),
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
		"ssh_pwauth": setBool(&c.SSHPwauth),
		"users": func(p *parser, n *yaml.Node, path string) {
			var users []User
			p.list(n, path, func(item *yaml.Node, ipath string) {
				if item.Kind == yaml.ScalarNode {
					switch {
					case item.Value == "default":
						users = append(users, User{Name: DefaultUser, Default: true})
					case validName(item.Value):
						users = append(users, User{Name: item.Value, LockPasswd: true})
					default:
						p.errorf(item, ipath, "letters, digits, _ and -, starting with a letter or _", "%q is not a valid user name", item.Value)
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
					if p.accountName(item, ipath, item.Value) {
						groups = append(groups, Group{Name: item.Value})
					}
				case item.Kind == yaml.MappingNode && len(item.Content) == 2:
					name := item.Content[0].Value
					members, ok := p.accountNames(item.Content[1], ipath+"."+name)
					if ok && p.accountName(item.Content[0], ipath, name) {
						groups = append(groups, Group{Name: name, Members: members})
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
		"timezone": setStr(&c.Timezone),
		"ca_certs": func(p *parser, n *yaml.Node, path string) { c.CACerts = p.caCerts(n, path) },
		"ca-certs": func(p *parser, n *yaml.Node, path string) { c.CACerts = p.caCerts(n, path) },
		"berth":    func(p *parser, n *yaml.Node, path string) { p.berth(n, path, &c.Berth) },
	}
}
