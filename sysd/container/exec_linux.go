package container

import (
	"fmt"
	"math"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"berth.dev/berth/sysd/unit"
)

// execService switches to the service's user and capability set and
// executes it. Runs inside the container's root, on the locked thread.
func execService(s *Spec) error {
	env := s.Env
	if !hasEnv(env, "PATH") {
		env = append(env, "PATH="+DefaultPath)
	}
	if s.NotifySocket != "" && !s.Join {
		env = append(env, "NOTIFY_SOCKET="+NotifyPath)
	}
	uid, gid, groups, home, err := lookupUser(s.User, s.Group)
	if err != nil {
		return err
	}
	if !hasEnv(env, "HOME") {
		env = append(env, "HOME="+home)
	}
	path, err := lookPath(s.Args[0], env)
	if err != nil {
		return err
	}
	caps, err := capSet(s)
	if err != nil {
		return err
	}
	// The bounding set first: it limits what any later exec can regain.
	for c := 0; c < 64 && !s.Privileged; c++ {
		if caps&(1<<c) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			if err == unix.EINVAL {
				break // past the kernel's last capability
			}
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	// syscall's Set* apply to every thread of the process.
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups %v: %w", groups, err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("setgid %d: %w", gid, err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("setuid %d: %w", uid, err)
	}
	if uid == 0 && !s.Privileged {
		// Inheritable stays empty (as in Docker since CVE-2022-24769).
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		data := [2]unix.CapUserData{
			{Effective: uint32(caps), Permitted: uint32(caps)},
			{Effective: uint32(caps >> 32), Permitted: uint32(caps >> 32)},
		}
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return fmt.Errorf("set capabilities: %w", err)
		}
	}
	var filter []bpf.RawInstruction
	if !s.Privileged {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
		prof, err := SeccompProfile(s.Caps)
		if err == nil {
			filter, err = seccompFilter(prof)
		}
		if err != nil {
			return err
		}
	}
	// No descriptor of sysd's reaches the service (CVE-2024-21626): all
	// but stdio close on exec, and the sync pipe's closing tells sysd the
	// exec happened.
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close inherited descriptors: %w", err)
	}
	dir := s.Dir
	if dir == "" {
		dir = "/"
	}
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("WorkingDir=%s: %w", dir, err)
	}
	// Last: the filter is Docker's profile, which this code need not fit.
	if filter != nil {
		if err := loadSeccomp(filter); err != nil {
			return err
		}
	}
	if err := unix.Exec(path, s.Args, env); err != nil {
		return fmt.Errorf("exec %s: %w", path, err)
	}
	return nil
}

// capSet is the spec's capabilities as a bit mask.
func capSet(s *Spec) (uint64, error) {
	if s.Privileged {
		return math.MaxUint64, nil
	}
	var set uint64
	for _, name := range s.Caps {
		n := -1
		for i, c := range unit.Capabilities {
			if c == name {
				n = i
			}
		}
		if n < 0 {
			return 0, fmt.Errorf("unknown capability %q", name)
		}
		set |= 1 << n
	}
	return set, nil
}

// lookPath finds a command on the container's PATH.
func lookPath(cmd string, env []string) (string, error) {
	if strings.Contains(cmd, "/") {
		return cmd, nil
	}
	path := DefaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, cmd)
		if unix.Access(p, unix.X_OK) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("Exec=%s: not found on PATH %s in the image", cmd, path)
}

// lookupUser resolves User= and Group= in the container's /etc/passwd and
// /etc/group (os/user reads them when built without cgo).
func lookupUser(name, group string) (uid, gid int, groups []int, home string, err error) {
	home = "/"
	if name == "" || name == "root" || name == "0" {
		uid, gid, home = 0, 0, "/root"
	} else {
		u, err := user.Lookup(name)
		if err != nil {
			if _, nerr := strconv.Atoi(name); nerr == nil {
				u, err = user.LookupId(name)
			}
		}
		if err != nil {
			return 0, 0, nil, "", fmt.Errorf("User=%s: %w", name, err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		home = u.HomeDir
		if ids, err := u.GroupIds(); err == nil {
			for _, id := range ids {
				if n, err := strconv.Atoi(id); err == nil && n != gid {
					groups = append(groups, n)
				}
			}
		}
	}
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			if _, nerr := strconv.Atoi(group); nerr == nil {
				g, err = user.LookupGroupId(group)
			}
		}
		if err != nil {
			return 0, 0, nil, "", fmt.Errorf("Group=%s: %w", group, err)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	if groups == nil {
		groups = []int{}
	}
	return uid, gid, groups, home, nil
}
