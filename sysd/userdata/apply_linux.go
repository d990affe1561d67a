package userdata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"berth.dev/berth/internal/atomicfile"
	"berth.dev/berth/internal/layout"
	"berth.dev/berth/internal/nofollow"
	"berth.dev/berth/sysd/unit"
)

// Applier makes a Config true on the machine.
// PasswordLoginFile lists the users with a password; it exists only when
// there is one (the ConditionPathExists= of serial-login.service and
// screen-login.service).
const PasswordLoginFile = "/run/berth/password-users"

type Applier struct {
	Root     string // "/" on the machine; a directory in tests
	StateDir string // per-instance records, e.g. /var/lib/berth/userdata
	// Run runs a shell command line as root in the admin's view of the
	// machine (the host's /etc, /var, /home; its PID and network
	// namespaces); name is a label for the log. It ends the command
	// when ctx ends.
	Run         func(ctx context.Context, name string, script string) error
	SetHostname func(name string) error
	LoadModules func(names []string)
	Logf        func(format string, args ...any)
	// EngineLabels ("key=value") go into daemon.json's labels when the
	// machine is in a swarm: the managers find a machine's node, and
	// its version, by them.
	EngineLabels []string
}

func (a *Applier) path(p string) string { return filepath.Join(a.Root, p) }

// Early is everything that must hold before services start: bootcmd
// (every boot), files, the hostname, users and their keys, services,
// sysctls, modules, and the docker and update settings. Each step's error
// is returned and the others still run.
func (a *Applier) Early(c *Config) (errs []error) {
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	// A bug met by odd input must cost that input, not sysd: sysd runs
	// this before any service, and a crash here would crash-loop it with
	// no SSH and a trial slot never decided.
	defer func() {
		if v := recover(); v != nil {
			errs = append(errs, fmt.Errorf("user-data: applying stopped by an internal error (please report): %v", v))
		}
	}()
	for i, cmd := range c.Bootcmd {
		// bootcmd holds up every service (and a trial slot's gate): it
		// gets a deadline, which cloud-init does not give it.
		ctx, cancel := context.WithTimeout(context.Background(), BootcmdTimeout)
		add(a.run(ctx, fmt.Sprintf("bootcmd[%d]", i), cmd))
		cancel()
	}
	add(a.writeFiles(c.WriteFiles, false))
	if c.Hostname != "" {
		add(a.hostname(c))
	}
	add(a.users(c))
	add(a.writeFiles(c.WriteFiles, true))
	pw := "no"
	if c.SSHPwauth {
		pw = "yes"
	}
	add(a.write("/etc/ssh/sshd_config.d/50-berth-userdata.conf", []byte("# From user-data's ssh_pwauth.\nPasswordAuthentication "+pw+"\n"), 0o644))
	add(a.services(c.Berth.Services))
	for k, v := range c.Berth.Sysctl {
		p := a.path("/proc/sys/" + strings.ReplaceAll(k, ".", "/"))
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			add(fmt.Errorf("berth.sysctl %s=%s: %w", k, v, err))
		}
	}
	if len(c.Berth.Modules) > 0 && a.LoadModules != nil {
		a.LoadModules(c.Berth.Modules)
	}
	if c.Timezone != "" {
		add(a.timezone(c.Timezone))
	}
	add(a.caBundle(c.CACerts))
	add(a.proxy(c.Berth.Proxy))
	docker := c.Berth.Docker
	if c.Berth.Swarm != nil && len(a.EngineLabels) > 0 {
		docker = withLabels(docker, a.EngineLabels)
	}
	if docker != nil {
		add(a.writeJSON("/etc/docker/daemon.json", docker))
	}
	if c.Berth.Update != nil {
		add(a.writeJSON(layout.UpdateConfigFile, c.Berth.Update))
	}
	return errs
}

// Late runs runcmd and the #! scripts, once per instance: not again on
// the next boot with the same instance-id, again with a new one.
func (a *Applier) Late(c *Config, md MetaData) (errs []error) {
	defer func() {
		if v := recover(); v != nil {
			errs = append(errs, fmt.Errorf("user-data: runcmd stopped by an internal error (please report): %v", v))
		}
	}()
	if len(c.Runcmd) == 0 && len(c.Scripts) == 0 {
		return nil
	}
	sem := filepath.Join(a.StateDir, "sem", "runcmd."+sanitize(md.InstanceID))
	if _, err := os.Stat(sem); err == nil {
		a.Logf("user-data: runcmd already ran for instance %s", md.InstanceID)
		return nil
	}
	for i, cmd := range c.Runcmd {
		if err := a.run(context.Background(), fmt.Sprintf("runcmd[%d]", i), cmd); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range c.Scripts {
		p := filepath.Join(a.StateDir, "scripts", sanitize(s.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.WriteFile(p, s.Content, 0o700); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := a.Run(context.Background(), s.Name, p); err != nil {
			errs = append(errs, fmt.Errorf("script %s: %w", s.Name, err))
		}
	}
	// Recorded even when a command failed, as cloud-init does: a
	// failing runcmd is not retried at every boot.
	os.MkdirAll(filepath.Dir(sem), 0o700)
	if err := atomicfile.Write(sem, []byte(md.InstanceID+"\n"), 0o600); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\x00' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}

// BootcmdTimeout bounds each bootcmd entry.
var BootcmdTimeout = 5 * time.Minute

func (a *Applier) run(ctx context.Context, name string, c Command) error {
	script := c.Shell
	if script == "" {
		q := make([]string, len(c.Args))
		for i, s := range c.Args {
			q[i] = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
		script = strings.Join(q, " ")
	}
	if err := a.Run(ctx, name, script); err != nil {
		return fmt.Errorf("%s (%s): %w", name, script, err)
	}
	return nil
}

// writeJSON writes v as JSON, or nothing (the file as it was) when v
// cannot be encoded.
func (a *Applier) writeJSON(p string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w (left as it was)", p, err)
	}
	return a.write(p, append(b, '\n'), 0o644)
}

func (a *Applier) write(p string, data []byte, mode os.FileMode) error {
	hp := a.path(p)
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return atomicfile.Write(hp, data, mode)
}

func (a *Applier) writeFiles(files []WriteFile, deferred bool) error {
	var errs []error
	for _, f := range files {
		if f.Defer != deferred {
			continue
		}
		if err := a.writeFile(f); err != nil {
			errs = append(errs, fmt.Errorf("write_files %s: %w", f.Path, err))
		}
	}
	return errors.Join(errs...)
}

// writeFile writes one write_files entry. Root writes it, so no component
// of its path is a link followed: a user could plant one (~/x →
// /etc/shadow) for root to write or chmod through.
func (a *Applier) writeFile(f WriteFile) error {
	uid, gid, err := a.owner(f.Owner)
	if err != nil {
		return err
	}
	clean := filepath.Clean("/" + f.Path)
	dir, err := nofollow.Dir(a.Root, filepath.Dir(clean), true, 0o755, nofollow.Root)
	if err != nil {
		return err
	}
	defer dir.Close()
	mode := os.FileMode(f.Permissions&0o777) | modeBits(f.Permissions)
	owner := nofollow.Owner{UID: uid, GID: gid}
	if f.Append {
		return nofollow.AppendFile(dir, filepath.Base(clean), f.Content, mode, owner)
	}
	return nofollow.WriteFile(dir, filepath.Base(clean), f.Content, mode, owner)
}

func modeBits(p uint32) os.FileMode {
	var m os.FileMode
	if p&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if p&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if p&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

// owner resolves "user:group" in the machine's /etc/passwd and /etc/group.
func (a *Applier) owner(s string) (int, int, error) {
	name, group, _ := strings.Cut(s, ":")
	acc := a.accounts()
	uid, gid := 0, 0
	var err error
	if name != "" && name != "root" {
		p, perr := entry(acc.Passwd, "/etc/passwd", name, passwdFields)
		if perr != nil {
			return 0, 0, fmt.Errorf("owner %s: %w", s, perr)
		}
		if p == nil {
			return 0, 0, fmt.Errorf("owner %s: no such user (users: are created first unless the file has defer: true)", s)
		}
		uid, err = strconv.Atoi(p[2])
		if err == nil {
			gid, err = strconv.Atoi(p[3])
		}
	}
	if group != "" && group != "root" {
		g, gerr := entry(acc.Group, "/etc/group", group, groupFields)
		if gerr != nil {
			return 0, 0, fmt.Errorf("owner %s: %w", s, gerr)
		}
		if g == nil {
			return 0, 0, fmt.Errorf("owner %s: no such group", s)
		}
		gid, err = strconv.Atoi(g[2])
	}
	if err != nil {
		return 0, 0, fmt.Errorf("owner %s: the account files hold a non-numeric id: %w", s, err)
	}
	return uid, gid, nil
}

func (a *Applier) accounts() *Accounts {
	p, _ := os.ReadFile(a.path("/etc/passwd"))
	g, _ := os.ReadFile(a.path("/etc/group"))
	s, _ := os.ReadFile(a.path("/etc/shadow"))
	return ParseAccounts(string(p), string(g), string(s))
}

func (a *Applier) hostname(c *Config) error {
	name, _, _ := strings.Cut(c.Hostname, ".")
	if err := a.write("/etc/hostname", []byte(name+"\n"), 0o644); err != nil {
		return err
	}
	if a.SetHostname != nil {
		if err := a.SetHostname(name); err != nil {
			return fmt.Errorf("hostname %s: %w", name, err)
		}
	}
	if c.ManageEtcHosts {
		fqdn := c.FQDN
		if fqdn == "" {
			fqdn = c.Hostname
		}
		hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + fqdn
		if fqdn != name {
			hosts += " " + name
		}
		return a.write("/etc/hosts", []byte(hosts+"\n"), 0o644)
	}
	return nil
}

// users creates the users (every boot: the result is the same), their
// homes and authorized_keys, and their sudo rules.
func (a *Applier) users(c *Config) error {
	users := EffectiveUsers(c)
	acc := a.accounts()
	type home struct {
		u        User
		uid, gid int
	}
	var homes []home
	var errs []error
	for _, u := range users {
		uid, gid, err := acc.EnsureUser(u)
		if err != nil {
			errs = append(errs, fmt.Errorf("users: %w", err))
			continue
		}
		homes = append(homes, home{u, uid, gid})
	}
	// groups: after the users, so that the default user keeps uid 1000.
	for _, g := range c.Groups {
		if _, err := acc.EnsureGroup(g.Name, 0); err != nil {
			errs = append(errs, fmt.Errorf("groups: %w", err))
			continue
		}
		for _, m := range g.Members {
			if ValidAccountName(m) {
				acc.AddMember(g.Name, m)
			}
		}
	}
	p, g, s := acc.Files()
	if err := a.write("/etc/passwd", []byte(p), 0o644); err != nil {
		return err
	}
	if err := a.write("/etc/group", []byte(g), 0o644); err != nil {
		return err
	}
	if err := a.write("/etc/shadow", []byte(s), 0o600); err != nil {
		return err
	}
	for _, h := range homes {
		if err := a.authorizedKeys(h.u, nofollow.Owner{UID: h.uid, GID: h.gid}); err != nil {
			errs = append(errs, fmt.Errorf("users: %s: %w", h.u.Name, err))
		}
	}
	errs = append(errs, a.write("/etc/sudoers.d/90-berth-users", []byte(Sudoers(users)), 0o440))
	// The serial console offers a login only when someone can use it.
	if pw := acc.PasswordUsers(); len(pw) > 0 {
		errs = append(errs, a.write(PasswordLoginFile, []byte(strings.Join(pw, "\n")+"\n"), 0o644))
	} else {
		os.Remove(a.path(PasswordLoginFile))
	}
	return errors.Join(errs...)
}

// authorizedKeys writes ~/.ssh/authorized_keys of u. The home belongs
// to the user, who could make .ssh a link to another user's: nothing in
// it is followed.
func (a *Applier) authorizedKeys(u User, owner nofollow.Owner) error {
	homes, err := nofollow.Dir(a.Root, "home", true, 0o755, nofollow.Root)
	if err != nil {
		return err
	}
	defer homes.Close()
	home, err := nofollow.Sub(homes, u.Name, true, 0o700, owner)
	if err != nil {
		return err
	}
	defer home.Close()
	ssh, err := nofollow.Sub(home, ".ssh", true, 0o700, owner)
	if err != nil {
		return err
	}
	defer ssh.Close()
	// Every boot, as before: a home restored from elsewhere gets its owner.
	if err := errors.Join(home.Chown(owner.UID, owner.GID), ssh.Chown(owner.UID, owner.GID)); err != nil {
		return fmt.Errorf("chown %s: %w", home.Name(), err)
	}
	keys := strings.Join(u.SSHAuthorizedKeys, "\n")
	if keys != "" {
		keys += "\n"
	}
	return nofollow.WriteFile(ssh, "authorized_keys", []byte(keys), 0o600, owner)
}

// services writes each unit given in berth.services to
// /etc/berth/services and records which are disabled.
func (a *Applier) services(svcs []Service) error {
	if len(svcs) == 0 {
		return nil
	}
	var errs []error
	changes := map[string]bool{}
	for _, s := range svcs {
		if s.Content != "" {
			errs = append(errs, a.write("/etc/berth/services/"+s.Name, []byte(s.Content), 0o644))
		}
		changes[s.Name] = !s.Enabled
	}
	errs = append(errs, unit.SetDisabled(a.path("/etc/berth/disabled-services"), changes))
	return errors.Join(errs...)
}

// timezone points /etc/localtime at the zone and records its name.
func (a *Applier) timezone(tz string) error {
	zone := filepath.Join("/usr/share/zoneinfo", filepath.Clean("/"+tz))
	if _, err := os.Stat(a.path(zone)); err != nil || strings.Contains(tz, "..") {
		return fmt.Errorf("timezone %s: not a zone in /usr/share/zoneinfo (e.g. Europe/Berlin, UTC)", tz)
	}
	tmp := a.path("/etc/.localtime.new")
	os.Remove(tmp)
	if err := os.Symlink(zone, tmp); err != nil {
		return fmt.Errorf("timezone %s: %w", tz, err)
	}
	if err := os.Rename(tmp, a.path("/etc/localtime")); err != nil {
		return fmt.Errorf("timezone %s: %w", tz, err)
	}
	return a.write("/etc/timezone", []byte(tz+"\n"), 0o644)
}

// caBundle writes the system's CA bundle: the image's own, unless
// ca_certs' remove_defaults, then ca_certs' trusted. Without ca_certs it
// puts the image's back, so a bundle from an earlier boot's user-data (or
// release) does not linger in /etc's persistent layer.
func (a *Applier) caBundle(cc *CACerts) error {
	base, err := os.ReadFile(a.path(layout.CABundleBase))
	if errors.Is(err, os.ErrNotExist) {
		if cc == nil {
			return nil // an image without a bundle: nothing to restore
		}
	} else if err != nil {
		return fmt.Errorf("ca_certs: %w", err)
	}
	want := base
	if cc != nil {
		if cc.RemoveDefaults {
			want = nil
		}
		want = append([]byte(nil), want...)
		for _, pem := range cc.Trusted {
			want = append(want, pem...)
		}
	}
	if cur, err := os.ReadFile(a.path(layout.CABundle)); err == nil && bytes.Equal(cur, want) {
		return nil
	}
	if err := a.write(layout.CABundle, want, 0o644); err != nil {
		return fmt.Errorf("ca_certs: %w", err)
	}
	return nil
}

// proxy writes berth.proxy for dockerd, containerd and the updater, or
// removes what an earlier boot wrote.
func (a *Applier) proxy(px *Proxy) error {
	if px == nil {
		if err := os.Remove(a.path(layout.ProxyEnv)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("berth.proxy: %w", err)
		}
		return nil
	}
	var b strings.Builder
	b.WriteString("# From user-data's berth.proxy.\n")
	for _, kv := range [][2]string{{"HTTP_PROXY", px.HTTP}, {"HTTPS_PROXY", px.HTTPS}, {"NO_PROXY", strings.Join(px.NoProxy, ",")}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "%s=%s\n%s=%s\n", kv[0], kv[1], strings.ToLower(kv[0]), kv[1])
		}
	}
	if err := a.write(layout.ProxyEnv, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("berth.proxy: %w", err)
	}
	return nil
}

// withLabels is daemon.json d with labels added to its own (a list of
// "key=value"); d itself is left as it is.
func withLabels(d map[string]any, labels []string) map[string]any {
	out := map[string]any{}
	for k, v := range d {
		out[k] = v
	}
	var all []any
	if own, ok := out["labels"].([]any); ok {
		all = append(all, own...)
	}
	for _, l := range labels {
		all = append(all, l)
	}
	out["labels"] = all
	return out
}
