package service

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"berth.dev/berth/sysd/container"
	"berth.dev/berth/sysd/unit"
)

// Spec turns a unit into the runtime's spec; root is the image directory.
func Spec(u *unit.Unit, root, staging, notifySocket string) (container.Spec, error) {
	name := strings.TrimSuffix(u.Name, ".service")
	c := u.Container
	s := container.Spec{
		Name: u.Name, Hostname: name, Root: root, Staging: staging,
		Args: c.Exec, Dir: c.WorkingDir, User: c.User, Group: c.Group,
		Network: c.Network, PIDHost: c.PID == "host", UTSHost: c.UTS == "host", Privileged: c.Privileged,
		TTY: u.Service.TTYPath != "", NotifySocket: notifySocket, Propagation: u.Service.MountFlags, Delegate: u.Service.Delegate,
		Caps: capabilities(c.AddCapability, c.DropCapability),
	}
	for _, f := range u.Service.EnvironmentFile {
		env, err := readEnvFile(f)
		if err != nil {
			return s, err
		}
		s.Env = append(s.Env, env...)
	}
	s.Env = append(s.Env, u.Service.Environment...)
	for _, v := range u.Container.Volumes {
		s.Mounts = append(s.Mounts, container.Mount{Source: v.Src, Target: v.Dst, Type: "bind", ReadOnly: v.ReadOnly})
	}
	for _, t := range u.Container.Tmpfs {
		dst, opts, _ := strings.Cut(t, ":")
		s.Mounts = append(s.Mounts, container.Mount{Source: "tmpfs", Target: dst, Type: "tmpfs", Data: opts})
	}
	return s, nil
}

// capabilities is Docker's default set with AddCapability= and
// DropCapability= applied (drops first; "ALL" drops or adds every one).
func capabilities(add, drop []string) []string {
	set := map[string]bool{}
	for _, c := range container.DefaultCaps {
		set[c] = true
	}
	for _, c := range drop {
		if c == "CAP_ALL" {
			set = map[string]bool{}
		}
		delete(set, c)
	}
	for _, c := range add {
		if c == "CAP_ALL" {
			for _, c := range unit.Capabilities {
				set[c] = true
			}
		}
		set[c] = true
	}
	delete(set, "CAP_ALL")
	var out []string
	for _, c := range unit.Capabilities {
		if set[c] {
			out = append(out, c)
		}
	}
	return out
}

// readEnvFile reads KEY=value lines; a leading "-" on the path makes a
// missing file no error, as in systemd.
func readEnvFile(path string) ([]string, error) {
	optional := strings.HasPrefix(path, "-")
	path = strings.TrimPrefix(path, "-")
	f, err := os.Open(path)
	if err != nil {
		if optional && os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("EnvironmentFile=%s: %w", path, err)
	}
	defer f.Close()
	var env []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: %q is not KEY=value", path, n, l)
		}
		env = append(env, strings.TrimSpace(k)+"="+strings.Trim(strings.TrimSpace(v), `"'`))
	}
	return env, sc.Err()
}
