package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/nofollow"
)

// Init is the container's first process (argv[0] InitName). It reads the
// spec from fd 3, builds the container and executes the service; on
// failure it writes the reason to the sync pipe (fd 4) and exits 127. It
// never returns.
func Init() {
	// Capabilities, the bounding set and no_new_privs belong to a thread:
	// every step and the final execve must happen on this one.
	runtime.LockOSThread()
	sync := os.NewFile(4, "sync")
	err := initContainer()
	fmt.Fprint(sync, err.Error())
	os.Exit(127)
}

func initContainer() error {
	var s Spec
	if err := json.NewDecoder(os.NewFile(3, "spec")).Decode(&s); err != nil {
		return fmt.Errorf("read spec: %w", err)
	}
	if s.Join {
		// Health checks and `exec`: the other namespaces were joined by
		// the parent's thread; the root is the service's, open on fd 5,
		// its cgroup namespace on fd 6, its mount namespace on fd 7. The
		// mount namespace is joined here, as `runc exec` does: a check
		// left in the host's would hand the container the host's files
		// through /proc/CHECK/root.
		if err := unix.Setns(6, unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("join the cgroup namespace of %s: %w", s.Name, err)
		}
		// setns(CLONE_NEWNS) needs a file system context of our own:
		// Go's threads share one, this locked thread stops sharing it.
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return fmt.Errorf("unshare the file system context: %w", err)
		}
		if err := unix.Setns(7, unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("join the mount namespace of %s: %w", s.Name, err)
		}
		if err := unix.Fchdir(5); err != nil {
			return fmt.Errorf("enter root of %s: %w", s.Name, err)
		}
		if err := unix.Chroot("."); err != nil {
			return fmt.Errorf("chroot into %s: %w", s.Name, err)
		}
	} else {
		if !s.UTSHost {
			if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
				return fmt.Errorf("sethostname %q: %w", s.Hostname, err)
			}
		}
		if err := buildRoot(&s); err != nil {
			return err
		}
		if s.Network == "private" {
			if err := loopbackUp(); err != nil {
				return err
			}
		}
	}
	return execService(&s)
}

// buildRoot assembles the container's file systems at s.Staging and
// pivots into it.
func buildRoot(s *Spec) error {
	prop := uintptr(unix.MS_PRIVATE)
	if s.Propagation == "slave" || s.Propagation == "shared" {
		prop = unix.MS_SLAVE
	}
	// Nothing mounted in here may propagate back to the host.
	if err := unix.Mount("", "/", "", prop|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make / %s: %w", propName(prop), err)
	}
	// Non-recursive: a root of "/" brings the image alone, not the host's
	// /etc, /var and /run mounted over it.
	if err := unix.Mount(s.Root, s.Staging, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind image %s on %s: %w", s.Root, s.Staging, err)
	}
	if err := unix.Mount("", s.Staging, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("make root %s read-only: %w", s.Staging, err)
	}
	root, err := unix.Open(s.Staging, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open root %s: %w", s.Staging, err)
	}
	defer unix.Close(root)
	m := &mounter{root: root, name: s.Name}
	for _, mt := range defaultMounts(s) {
		if err := m.mount(mt); err != nil {
			return err
		}
	}
	if !s.Privileged {
		if err := m.devices(); err != nil {
			return err
		}
	}
	if s.NotifySocket != "" {
		if err := m.mount(Mount{Source: s.NotifySocket, Target: NotifyPath, Type: "bind"}); err != nil {
			return err
		}
	}
	for _, mt := range s.Mounts {
		if err := m.mount(mt); err != nil {
			return err
		}
	}
	if !s.Privileged {
		for _, p := range MaskedPaths {
			if err := m.mask(p); err != nil {
				return err
			}
		}
		for _, p := range ReadonlyPaths {
			if err := m.readonly(p); err != nil {
				return err
			}
		}
	}
	if err := pivot(s.Staging); err != nil {
		return err
	}
	if s.Delegate {
		if err := delegate(); err != nil {
			return err
		}
	}
	// Shared only now: pivot_root refuses a shared old root.
	if s.Propagation == "shared" {
		if err := unix.Mount("", "/", "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("make the root rshared: %w", err)
		}
	}
	return nil
}

// delegate moves this process into the leaf group and lets the child
// groups use every controller the container's group has.
// Equivalent to: mkdir /sys/fs/cgroup/init; echo 0 > init/cgroup.procs;
// echo +cpu +memory… > cgroup.subtree_control
func delegate() error {
	const cg = "/sys/fs/cgroup"
	leaf := cg + "/" + DelegateLeaf
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("delegate: create cgroup %s: %w", leaf, err)
	}
	if err := os.WriteFile(leaf+"/cgroup.procs", []byte("0"), 0); err != nil {
		return fmt.Errorf("delegate: move into cgroup %s: %w", leaf, err)
	}
	ctrl, err := os.ReadFile(cg + "/cgroup.controllers")
	if err != nil {
		return fmt.Errorf("delegate: %w", err)
	}
	for _, c := range strings.Fields(string(ctrl)) {
		if err := os.WriteFile(cg+"/cgroup.subtree_control", []byte("+"+c), 0); err != nil {
			return fmt.Errorf("delegate: enable %s for child cgroups: %w", c, err)
		}
	}
	return nil
}

func propName(p uintptr) string {
	if p == unix.MS_SLAVE {
		return "rslave"
	}
	return "rprivate"
}

// defaultMounts is the container's early file system, as data.
func defaultMounts(s *Spec) []Mount {
	ms := []Mount{{Source: "proc", Target: "/proc", Type: "proc"}}
	if s.Privileged {
		ms = append(ms,
			Mount{Source: "/dev", Target: "/dev", Type: "rbind"},
			Mount{Source: "sysfs", Target: "/sys", Type: "sysfs"},
			Mount{Source: "cgroup2", Target: "/sys/fs/cgroup", Type: "cgroup2"})
	} else {
		ms = append(ms,
			Mount{Source: "tmpfs", Target: "/dev", Type: "tmpfs", Data: "mode=755,size=64k"},
			Mount{Source: "devpts", Target: "/dev/pts", Type: "devpts", Data: "newinstance,ptmxmode=0666,mode=0620,gid=5"},
			Mount{Source: "shm", Target: "/dev/shm", Type: "tmpfs", Data: "mode=1777,size=65536k"},
			Mount{Source: "mqueue", Target: "/dev/mqueue", Type: "mqueue"},
			Mount{Source: "sysfs", Target: "/sys", Type: "sysfs", ReadOnly: true},
			Mount{Source: "cgroup2", Target: "/sys/fs/cgroup", Type: "cgroup2", ReadOnly: !s.Delegate})
	}
	return append(ms,
		Mount{Source: "tmpfs", Target: "/run", Type: "tmpfs", Data: "mode=755,size=16m"},
		Mount{Source: "tmpfs", Target: "/tmp", Type: "tmpfs", Data: "mode=1777"})
}

// mounter mounts onto paths resolved inside the container's root, never
// following a link out of it (openat2 RESOLVE_IN_ROOT), and mounts on the
// resolved descriptor rather than on a path that could change under it.
type mounter struct {
	root int
	name string
}

func (m *mounter) open(p string, flags int) (int, error) {
	return unix.Openat2(m.root, p, &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// target opens the mount point, creating it when asked and when it is on
// a writable file system (the image itself is read-only).
func (m *mounter) target(p string, file bool) (int, error) {
	fd, err := m.open(p, unix.O_PATH)
	if !errors.Is(err, unix.ENOENT) {
		if err != nil {
			return -1, fmt.Errorf("open mount point %s: %w", p, err)
		}
		return fd, nil
	}
	readonly := func(err error) error {
		if errors.Is(err, unix.EROFS) {
			return fmt.Errorf("mount point %s does not exist in the image of %s, which is read-only (create it when the image is built, or mount below /run or /tmp)", p, m.name)
		}
		return fmt.Errorf("create mount point %s: %w", p, err)
	}
	// Create missing parents one by one, each resolved inside the root.
	parts := strings.Split(strings.Trim(p, "/"), "/")
	for i, base := range parts {
		dir, err := m.open("/"+strings.Join(parts[:i], "/"), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return -1, fmt.Errorf("open %s: %w", "/"+strings.Join(parts[:i], "/"), err)
		}
		if i == len(parts)-1 && file {
			var f int
			f, err = unix.Openat(dir, base, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
			if err == nil {
				unix.Close(f)
			}
		} else if err = unix.Mkdirat(dir, base, 0o755); errors.Is(err, unix.EEXIST) {
			err = nil
		}
		unix.Close(dir)
		if err != nil {
			return -1, readonly(err)
		}
	}
	return m.open(p, unix.O_PATH)
}

func (m *mounter) mount(mt Mount) error {
	srcFile := false
	source := mt.Source
	if mt.Type == "bind" || mt.Type == "rbind" {
		// The source is on the host, where a user may own a directory
		// of it: only root's links are followed (/lib → usr/lib), and the
		// resolved path is opened without following any, so a link
		// swapped in meanwhile is refused rather than mounted.
		resolved, err := nofollow.ResolveRootLinks(mt.Source)
		if err != nil {
			return fmt.Errorf("volume %s: %w", mt.Source, err)
		}
		sfd, err := nofollow.OpenPath(resolved)
		if err != nil {
			return fmt.Errorf("volume %s: %w", mt.Source, err)
		}
		defer unix.Close(sfd)
		var st unix.Stat_t
		if err := unix.Fstat(sfd, &st); err != nil {
			return fmt.Errorf("volume %s: %w", mt.Source, err)
		}
		srcFile = st.Mode&unix.S_IFMT != unix.S_IFDIR
		source = fmt.Sprintf("/proc/self/fd/%d", sfd)
	}
	fd, err := m.target(mt.Target, srcFile)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	at := fmt.Sprintf("/proc/self/fd/%d", fd)
	var flags uintptr = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	data := mt.Data
	switch mt.Type {
	case "bind", "rbind":
		flags, data = unix.MS_BIND|unix.MS_REC, ""
	case "tmpfs":
		if mt.Target == "/dev" || strings.HasPrefix(mt.Target, "/run") || mt.Target == "/tmp" {
			flags = unix.MS_NOSUID | unix.MS_NODEV
		}
		if mt.Target == "/dev" {
			flags = unix.MS_NOSUID | unix.MS_NOEXEC // device nodes live here
		}
	}
	if err := unix.Mount(source, at, mt.Type, flags, data); err != nil {
		if mt.Type == "rbind" || mt.Type == "bind" {
			return fmt.Errorf("bind %s on %s: %w", mt.Source, mt.Target, err)
		}
		return fmt.Errorf("mount %s on %s: %w", mt.Type, mt.Target, err)
	}
	if mt.ReadOnly {
		return m.setReadonly(mt.Target)
	}
	return nil
}

// setReadonly makes the mount at p and every mount below it read-only.
// Equivalent to: mount -o remount,bind,ro P (recursively)
func (m *mounter) setReadonly(p string) error {
	fd, err := m.open(p, unix.O_PATH)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer unix.Close(fd)
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
		return fmt.Errorf("make %s read-only: %w", p, err)
	}
	return nil
}

// devices fills the private /dev with the nodes every program expects.
func (m *mounter) devices() error {
	dev, err := m.open("/dev", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("open /dev: %w", err)
	}
	defer unix.Close(dev)
	nodes := []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}}
	for _, n := range nodes {
		if err := unix.Mknodat(dev, n.name, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			return fmt.Errorf("mknod /dev/%s: %w", n.name, err)
		}
		// The umask must not narrow the mode.
		if err := unix.Fchmodat(dev, n.name, 0o666, 0); err != nil {
			return fmt.Errorf("chmod /dev/%s: %w", n.name, err)
		}
	}
	links := [][2]string{{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}}
	for _, l := range links {
		if err := unix.Symlinkat(l[0], dev, l[1]); err != nil {
			return fmt.Errorf("symlink /dev/%s: %w", l[1], err)
		}
	}
	return nil
}

// mask hides p: /dev/null over a file, an empty read-only tmpfs over a
// directory. A path the kernel does not have is skipped.
func (m *mounter) mask(p string) error {
	fd, err := m.open(p, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	at := fmt.Sprintf("/proc/self/fd/%d", fd)
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = unix.Mount("tmpfs", at, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0")
	} else {
		// The container's own /dev/null, so the mask has its /dev's
		// flags (nosuid), not the host's devtmpfs's.
		null, nerr := m.open("/dev/null", unix.O_PATH)
		if nerr != nil {
			return fmt.Errorf("mask %s: open /dev/null: %w", p, nerr)
		}
		err = unix.Mount(fmt.Sprintf("/proc/self/fd/%d", null), at, "", unix.MS_BIND, "")
		unix.Close(null)
	}
	if err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	return nil
}

// readonly binds p on itself and makes that read-only.
func (m *mounter) readonly(p string) error {
	fd, err := m.open(p, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read-only %s: %w", p, err)
	}
	at := fmt.Sprintf("/proc/self/fd/%d", fd)
	err = unix.Mount(at, at, "", unix.MS_BIND|unix.MS_REC, "")
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("bind %s on itself: %w", p, err)
	}
	return m.setReadonly(p)
}

// pivot makes dir the root and drops the old one.
// Equivalent to: cd DIR && pivot_root . . && umount -l .
func pivot(dir string) error {
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("chdir %s: %w", dir, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", dir, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	return unix.Chdir("/")
}

// loopbackUp brings lo up in a new network namespace.
// Equivalent to: ip link set lo up
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	return nil
}
