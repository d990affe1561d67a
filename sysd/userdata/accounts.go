package userdata

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Accounts is /etc/passwd, /etc/group and /etc/shadow, parsed: each
// entry its colon-separated fields, in file order.
type Accounts struct {
	Passwd, Group, Shadow [][]string
}

// ParseAccounts reads the three files' contents (missing ones empty).
func ParseAccounts(passwd, group, shadow string) *Accounts {
	split := func(s string) [][]string {
		var out [][]string
		for _, l := range strings.Split(s, "\n") {
			if strings.TrimSpace(l) != "" {
				out = append(out, strings.Split(l, ":"))
			}
		}
		return out
	}
	return &Accounts{Passwd: split(passwd), Group: split(group), Shadow: split(shadow)}
}

// Files renders passwd, group and shadow.
func (a *Accounts) Files() (passwd, group, shadow string) {
	join := func(es [][]string) string {
		var b strings.Builder
		for _, e := range es {
			b.WriteString(strings.Join(e, ":") + "\n")
		}
		return b.String()
	}
	return join(a.Passwd), join(a.Group), join(a.Shadow)
}

// PasswordUsers lists the users who can log in with a password: their
// shadow entry holds a hash, not empty, locked ("!…") or disabled ("*").
func (a *Accounts) PasswordUsers() []string {
	var out []string
	for _, s := range a.Shadow {
		if len(s) > 1 && s[1] != "" && !strings.HasPrefix(s[1], "!") && !strings.HasPrefix(s[1], "*") {
			out = append(out, s[0])
		}
	}
	return out
}

func find(es [][]string, name string) []string {
	for _, e := range es {
		if e[0] == name {
			return e
		}
	}
	return nil
}

// free returns the lowest id from 1000 that no entry of es uses.
func free(es [][]string) int {
	used := map[int]bool{}
	for _, e := range es {
		if len(e) > 2 {
			n, _ := strconv.Atoi(e[2])
			used[n] = true
		}
	}
	for id := 1000; ; id++ {
		if !used[id] {
			return id
		}
	}
}

// EnsureGroup returns the gid of group name, creating it when missing.
func (a *Accounts) EnsureGroup(name string, want int) int {
	if g := find(a.Group, name); g != nil {
		n, _ := strconv.Atoi(g[2])
		return n
	}
	gid := want
	if gid == 0 || gidUsed(a.Group, gid) {
		gid = free(a.Group)
	}
	a.Group = append(a.Group, []string{name, "x", strconv.Itoa(gid), ""})
	return gid
}

func gidUsed(es [][]string, id int) bool {
	for _, e := range es {
		if len(e) > 2 && e[2] == strconv.Itoa(id) {
			return true
		}
	}
	return false
}

// EnsureUser creates or updates u (its own primary group, home
// /home/NAME, its supplementary groups, its password state) and returns
// its uid and gid.
func (a *Accounts) EnsureUser(u User) (uid, gid int) {
	shell := u.Shell
	if shell == "" {
		shell = "/bin/bash"
	}
	home := "/home/" + u.Name
	if p := find(a.Passwd, u.Name); p != nil {
		uid, _ = strconv.Atoi(p[2])
		gid, _ = strconv.Atoi(p[3])
		p[4], p[6] = u.Gecos, shell
	} else {
		// The lowest id free as both a uid and a gid, so that the
		// user's own group has its number.
		uid = free(append(append([][]string{}, a.Passwd...), a.Group...))
		gid = a.EnsureGroup(u.Name, uid)
		a.Passwd = append(a.Passwd, []string{u.Name, "x", strconv.Itoa(uid), strconv.Itoa(gid), u.Gecos, home, shell})
	}
	for _, g := range u.Groups {
		a.EnsureGroup(g, 0)
		a.AddMember(g, u.Name)
	}
	pw := "!"
	if u.Passwd != "" {
		pw = u.Passwd
		if u.LockPasswd {
			pw = "!" + pw
		}
	}
	if s := find(a.Shadow, u.Name); s != nil {
		s[1] = pw
	} else {
		// An empty last-change day: no password ageing (0 would mean "change it now").
		a.Shadow = append(a.Shadow, []string{u.Name, pw, "", "0", "99999", "7", "", "", ""})
	}
	return uid, gid
}

// AddMember adds user to group's member list (the group must exist).
func (a *Accounts) AddMember(group, user string) {
	for i, e := range a.Group {
		if e[0] != group {
			continue
		}
		for len(e) < 4 {
			e = append(e, "")
		}
		members := strings.FieldsFunc(e[3], func(r rune) bool { return r == ',' })
		if !slices.Contains(members, user) {
			members = append(members, user)
			sort.Strings(members)
		}
		e[3] = strings.Join(members, ",")
		a.Group[i] = e
	}
}

// Sudoers renders the sudoers.d lines for users with sudo rules.
func Sudoers(users []User) string {
	var b strings.Builder
	b.WriteString("# Written by sysd from user-data; changes are replaced at boot.\n")
	for _, u := range users {
		for _, rule := range u.Sudo {
			fmt.Fprintf(&b, "%s %s\n", u.Name, rule)
		}
	}
	return b.String()
}

// EffectiveUsers is the users list as cloud-init reads it: without a
// users: key, the default user alone; "default" is Berth's user with
// passwordless sudo and the docker group; top-level ssh_authorized_keys
// are the default user's.
func EffectiveUsers(c *Config) []User {
	users := c.Users
	if users == nil {
		users = []User{{Name: DefaultUser, Default: true}}
	}
	var out []User
	for _, u := range users {
		if u.Default {
			u = User{Name: DefaultUser, Default: true, Gecos: "Berth", Groups: []string{"docker"},
				Sudo: []string{"ALL=(ALL) NOPASSWD:ALL"}, LockPasswd: true, Shell: "/bin/bash",
				SSHAuthorizedKeys: c.SSHAuthorizedKeys}
		}
		out = append(out, u)
	}
	return out
}
