package pid1

import (
	"golang.org/x/sys/unix"

	"berth.dev/berth/init/early"
)

const (
	nosuid = unix.MS_NOSUID
	nodev  = unix.MS_NODEV
	noexec = unix.MS_NOEXEC
)

// steps is stage 2's early file system. /dev, /proc, /sys and /run were
// moved here by stage 1; this adds the rest every service expects.
var steps = []early.Step{
	early.Mount{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs", Data: "mode=1777,size=20%", Flags: nosuid | nodev},
	early.Mount{Source: "devpts", Target: "/dev/pts", FSType: "devpts", Data: "mode=0620,ptmxmode=0666,gid=5", Flags: nosuid | noexec},
	early.Mount{Source: "tmpfs", Target: "/dev/shm", FSType: "tmpfs", Data: "mode=1777", Flags: nosuid | nodev},
	early.Mount{Source: "mqueue", Target: "/dev/mqueue", FSType: "mqueue", Flags: nosuid | nodev | noexec},
	early.Mount{Source: "cgroup2", Target: "/sys/fs/cgroup", FSType: "cgroup2", Data: "nsdelegate", Flags: nosuid | nodev | noexec},
	early.Optional{Step: early.Mount{Source: "securityfs", Target: "/sys/kernel/security", FSType: "securityfs", Flags: nosuid | nodev | noexec}},
	early.Symlink{Target: "/proc/self/fd", Link: "/dev/fd"},
	early.Symlink{Target: "/proc/self/fd/0", Link: "/dev/stdin"},
	early.Symlink{Target: "/proc/self/fd/1", Link: "/dev/stdout"},
	early.Symlink{Target: "/proc/self/fd/2", Link: "/dev/stderr"},
	early.Dir{Path: "/run/berth", Mode: 0o755},
	// Last of the mounts, so that each above is shared too.
	early.MakeShared{Path: "/"},
	// The kernel runs this for on-demand module loads; it is PID 1's own
	// binary under another name.
	early.Write{Path: "/proc/sys/kernel/modprobe", Content: "/sbin/modprobe\n"},
	// EFI variables (the boot loader's, for the updater). The module is
	// not preloaded: the mount asks the kernel, which asks /sbin/modprobe.
	early.Optional{Step: early.IfExists{Path: "/sys/firmware/efi", Step: early.Mount{
		Source: "efivarfs", Target: "/sys/firmware/efi/efivars", FSType: "efivarfs", Flags: nosuid | nodev | noexec}}},
	// Debian's default (0x1b6) plus signalling (0x40): Alt-SysRq-E/I on
	// the console ends every process but PID 1, which then starts sysd
	// afresh; the console operator owns the machine anyway.
	early.Write{Path: "/proc/sys/kernel/sysrq", Content: "502\n"},
	// ping for every user through ICMP datagram sockets (systemd's default
	// too): the images carry no setuid bit or file capability for ping,
	// which iputils' maintainer script would have set.
	early.Write{Path: "/proc/sys/net/ipv4/ping_group_range", Content: "0 2147483647\n"},
}
