package userdata

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

func (p *parser) user(n *yaml.Node, path string) (User, bool) {
	u := User{LockPasswd: true}
	p.fields(n, path, map[string]handler{
		"name":  setStr(&u.Name),
		"gecos": setStr(&u.Gecos),
		"groups": func(p *parser, n *yaml.Node, path string) {
			u.Groups, _ = p.accountNames(n, path)
		},
		"shell": setStr(&u.Shell),
		"sudo": func(p *parser, n *yaml.Node, path string) {
			if n.Kind == yaml.ScalarNode && (n.Value == "false" || n.Tag == "!!bool") {
				return // sudo: false means none
			}
			u.Sudo, _ = p.strs(n, path, false)
		},
		"ssh_authorized_keys": func(p *parser, n *yaml.Node, path string) {
			u.SSHAuthorizedKeys, _ = p.strs(n, path, false)
		},
		"lock_passwd": setBool(&u.LockPasswd),
		"passwd": func(p *parser, n *yaml.Node, path string) {
			if s, ok := p.str(n, path); ok {
				if !strings.HasPrefix(s, "$") {
					p.errorf(n, path, "give a crypt(3) hash, e.g. from `mkpasswd -m sha-512`", "not a password hash")
					return
				}
				u.Passwd = s
			}
		},
		"hashed_passwd": setStr(&u.Passwd),
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

// validName is a user name user-data may create or change: not root.
func validName(s string) bool { return s != "root" && ValidAccountName(s) }

// ValidAccountName is Debian's NAME_REGEX for users and groups, at most
// 32 bytes: nothing that could be a path or split an account file line.
func ValidAccountName(s string) bool {
	if s == "" || len(s) > 32 {
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

// accountName reports whether s is a valid user or group name, and says
// where it is not.
func (p *parser) accountName(n *yaml.Node, path, s string) bool {
	if ValidAccountName(s) {
		return true
	}
	p.errorf(n, path, "letters, digits, _ and -, starting with a letter or _, at most 32", "%q is not a valid user or group name", s)
	return false
}

// accountNames reads a list of user or group names (a list, or one
// comma-separated string), dropping and reporting invalid ones.
func (p *parser) accountNames(n *yaml.Node, path string) ([]string, bool) {
	l, ok := p.strs(n, path, true)
	if !ok {
		return nil, false
	}
	var out []string
	for i, s := range l {
		at := n
		if n.Kind == yaml.SequenceNode && i < len(n.Content) {
			at = n.Content[i]
		}
		if p.accountName(at, fmt.Sprintf("%s[%d]", path, i), s) {
			out = append(out, s)
		}
	}
	return out, true
}
