package container

import (
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"berth.dev/berth/sysd/unit"
)

// OCI returns the OCI runtime configuration that asks runc for what s
// asks sysd: the differential test and the benchmark run the same service
// both ways. uid and gid are User=/Group= resolved (the OCI config takes
// numbers); rootfs is the root directory for runc.
func OCI(s Spec, rootfs string, uid, gid uint32) *specs.Spec {
	env := s.Env
	if !hasEnv(env, "PATH") {
		env = append(env, "PATH="+DefaultPath)
	}
	caps := s.Caps
	if s.Privileged {
		caps = unit.Capabilities
	}
	nsTypes := []specs.LinuxNamespaceType{specs.MountNamespace, specs.IPCNamespace, specs.CgroupNamespace}
	if !s.UTSHost {
		nsTypes = append(nsTypes, specs.UTSNamespace)
	}
	if !s.PIDHost {
		nsTypes = append(nsTypes, specs.PIDNamespace)
	}
	if s.Network != "host" {
		nsTypes = append(nsTypes, specs.NetworkNamespace)
	}
	var nss []specs.LinuxNamespace
	for _, t := range nsTypes {
		nss = append(nss, specs.LinuxNamespace{Type: t})
	}
	cwd := s.Dir
	if cwd == "" {
		cwd = "/"
	}
	c := &specs.Spec{
		Version:  specs.Version,
		Hostname: s.Hostname,
		Root:     &specs.Root{Path: rootfs, Readonly: true},
		Process: &specs.Process{
			Args: s.Args, Env: env, Cwd: cwd, Terminal: false,
			User:            specs.User{UID: uid, GID: gid},
			NoNewPrivileges: !s.Privileged,
			Capabilities:    &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps},
		},
		Linux: &specs.Linux{Namespaces: nss},
	}
	if !s.Privileged {
		c.Linux.MaskedPaths = MaskedPaths
		c.Linux.ReadonlyPaths = ReadonlyPaths
	}
	ro := func(o ...string) []string {
		if s.Privileged {
			return o
		}
		return append(o, "ro")
	}
	c.Mounts = []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: ro("nosuid", "noexec", "nodev")},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: ro("nosuid", "noexec", "nodev", "relatime")},
		{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=755", "size=16m"}},
		{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}},
	}
	for _, m := range s.Mounts {
		opts := []string{"rbind"}
		typ := m.Type
		if typ == "bind" || typ == "rbind" {
			typ = "bind"
		} else {
			opts = strings.Split(m.Data, ",")
			if m.Data == "" {
				opts = nil
			}
		}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		c.Mounts = append(c.Mounts, specs.Mount{Destination: m.Target, Type: typ, Source: m.Source, Options: opts})
	}
	return c
}
