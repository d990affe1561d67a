package userdata

import (
	"errors"
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

// Field counts of a well-formed entry (passwd(5), group(5), shadow(5)).
const (
	passwdFields = 7
	groupFields  = 4
	shadowFields = 9
)

func find(es [][]string, name string) []string {
	for _, e := range es {
		if len(e) > 0 && e[0] == name {
			return e
		}
	}
	return nil
}

// entry finds name in es and checks that it has at least n fields: a
// short line (hand-edited, or written by an older release) is reported,
// never indexed past its end.
func entry(es [][]string, file, name string, n int) ([]string, error) {
	e := find(es, name)
	if e != nil && len(e) < n {
		return nil, fmt.Errorf("%s: entry %q has %d fields, want %d: fix or remove the line", file, name, len(e), n)
	}
	return e, nil
}

// ValidField reports whether s can be stored in an account file field:
// a colon or a newline would split or add an entry.
func ValidField(s string) bool {
	return !strings.ContainsAny(s, ":\n\r\x00")
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
func (a *Accounts) EnsureGroup(name string, want int) (int, error) {
	if !ValidAccountName(name) {
		return 0, fmt.Errorf("group %q: not a valid group name", name)
	}
	g, err := entry(a.Group, "/etc/group", name, groupFields)
	if err != nil {
		return 0, err
	}
	if g != nil {
		n, err := strconv.Atoi(g[2])
		if err != nil {
			return 0, fmt.Errorf("/etc/group: entry %q: gid %q is not a number", name, g[2])
		}
		return n, nil
	}
	gid := want
	if gid == 0 || gidUsed(a.Group, gid) {
		gid = free(a.Group)
	}
	a.Group = append(a.Group, []string{name, "x", strconv.Itoa(gid), ""})
	return gid, nil
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
func (a *Accounts) EnsureUser(u User) (uid, gid int, err error) {
	shell := u.Shell
	if shell == "" {
		shell = "/bin/bash"
	}
	if !ValidAccountName(u.Name) || u.Name == "root" {
		return 0, 0, fmt.Errorf("user %q: not a valid user name", u.Name)
	}
	for _, f := range []struct{ name, v string }{{"gecos", u.Gecos}, {"shell", shell}, {"passwd", u.Passwd}} {
		if !ValidField(f.v) {
			return 0, 0, fmt.Errorf("user %s: %s %q holds a colon or a line break", u.Name, f.name, f.v)
		}
	}
	home := "/home/" + u.Name
	p, err := entry(a.Passwd, "/etc/passwd", u.Name, passwdFields)
	if err != nil {
		return 0, 0, err
	}
	if p != nil {
		uid, err1 := strconv.Atoi(p[2])
		gid, err2 := strconv.Atoi(p[3])
		if err := errors.Join(err1, err2); err != nil {
			return 0, 0, fmt.Errorf("/etc/passwd: entry %q: uid or gid is not a number: %w", u.Name, err)
		}
		p[4], p[6] = u.Gecos, shell
		return a.ensureRest(u, uid, gid)
	}
	// The lowest id free as both a uid and a gid, so that the user's own
	// group has its number.
	uid = free(append(append([][]string{}, a.Passwd...), a.Group...))
	if gid, err = a.EnsureGroup(u.Name, uid); err != nil {
		return 0, 0, err
	}
	a.Passwd = append(a.Passwd, []string{u.Name, "x", strconv.Itoa(uid), strconv.Itoa(gid), u.Gecos, home, shell})
	return a.ensureRest(u, uid, gid)
}

// ensureRest adds u to its groups and sets its password state.
func (a *Accounts) ensureRest(u User, uid, gid int) (int, int, error) {
	for _, g := range u.Groups {
		if _, err := a.EnsureGroup(g, 0); err != nil {
			return 0, 0, fmt.Errorf("user %s: %w", u.Name, err)
		}
		a.AddMember(g, u.Name)
	}
	pw := "!"
	if u.Passwd != "" {
		pw = u.Passwd
		if u.LockPasswd {
			pw = "!" + pw
		}
	}
	s, err := entry(a.Shadow, "/etc/shadow", u.Name, 2)
	if err != nil {
		return 0, 0, err
	}
	if s != nil {
		s[1] = pw
	} else {
		// An empty last-change day: no password ageing (0 would mean "change it now").
		a.Shadow = append(a.Shadow, []string{u.Name, pw, "", "0", "99999", "7", "", "", ""})
	}
	return uid, gid, nil
}

// AddMember adds user to group's member list (the group must exist).
func (a *Accounts) AddMember(group, user string) {
	for i, e := range a.Group {
		if len(e) == 0 || e[0] != group {
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
