package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/reaper"
)

func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == InitName {
		Init()
	}
	os.Exit(m.Run())
}

// needRoot skips a privileged test on an unprivileged developer machine.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates namespaces and mounts")
	}
}

// run starts s with the host's own root file system as the image and
// returns what it printed and its exit.
func run(t *testing.T, s Spec) (string, reaper.Exit) {
	t.Helper()
	return runIn(t, s, nil)
}

// runIn is run inside the cgroup open as cg.
func runIn(t *testing.T, s Spec, cg *os.File) (string, reaper.Exit) {
	t.Helper()
	r := reaper.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	if s.Root == "" {
		s.Root = "/"
	}
	s.Staging = t.TempDir()
	if s.Name == "" {
		s.Name = "t"
		s.Hostname = "t"
	}
	if s.Caps == nil {
		s.Caps = DefaultCaps
	}
	if s.Network == "" {
		s.Network = "private"
	}
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(r, s, cg, Stdio{nil, out, out})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	var e reaper.Exit
	select {
	case e = <-p.Exit:
	case <-time.After(30 * time.Second):
		t.Fatal("container did not exit")
	}
	b, _ := os.ReadFile(out.Name())
	return string(b), e
}

func field(status, key string) string {
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func TestServiceIsPID1WithBoundedCapsAndNoNewPrivs(t *testing.T) {
	needRoot(t)
	out, e := run(t, Spec{Args: []string{"sh", "-c", "echo pid=$$; hostname; cat /proc/self/status; ls /proc/self/fd"}, Name: "svc", Hostname: "svc"})
	if !e.Status.Exited() || e.Status.ExitStatus() != 0 {
		t.Fatalf("exit %v\n%s", e, out)
	}
	if !strings.Contains(out, "pid=1\n") {
		t.Errorf("service is not PID 1 in its namespace:\n%s", out)
	}
	if !strings.Contains(out, "\nsvc\n") {
		t.Errorf("hostname is not the unit's:\n%s", out)
	}
	want := fmt.Sprintf("%016x", mask(t, DefaultCaps))
	for _, k := range []string{"CapBnd", "CapEff", "CapPrm"} {
		if got := field(out, k); got != want {
			t.Errorf("%s = %s, want Docker's default set %s", k, got, want)
		}
	}
	for _, k := range []string{"CapInh", "CapAmb"} {
		if got := field(out, k); got != "0000000000000000" {
			t.Errorf("%s = %s, want none", k, got)
		}
	}
	if got := field(out, "NoNewPrivs"); got != "1" {
		t.Errorf("NoNewPrivs = %q, want 1", got)
	}
	// ls's own fd for the directory is 3; nothing else is inherited.
	fds := strings.Fields(out[strings.LastIndex(out, "0\n1\n"):])
	if len(fds) > 4 {
		t.Errorf("descriptors beyond stdio reached the container: %v", fds)
	}
}

func TestDropAddAndPrivileged(t *testing.T) {
	needRoot(t)
	caps := []string{"CAP_NET_ADMIN", "CAP_KILL"}
	out, _ := run(t, Spec{Caps: caps, Args: []string{"cat", "/proc/self/status"}})
	if got, want := field(out, "CapBnd"), fmt.Sprintf("%016x", mask(t, caps)); got != want {
		t.Errorf("CapBnd = %s, want %s", got, want)
	}
	out, _ = run(t, Spec{Privileged: true, Args: []string{"cat", "/proc/self/status"}})
	if got := field(out, "NoNewPrivs"); got != "0" {
		t.Errorf("privileged: NoNewPrivs = %s, want 0", got)
	}
	if got := field(out, "CapEff"); got == fmt.Sprintf("%016x", mask(t, DefaultCaps)) {
		t.Errorf("privileged: CapEff is only the default set")
	}
}

func TestUserDropsCapabilities(t *testing.T) {
	needRoot(t)
	out, _ := run(t, Spec{User: "nobody", Args: []string{"sh", "-c", "id -u; cat /proc/self/status"}})
	if !strings.HasPrefix(out, "65534\n") {
		t.Errorf("not running as nobody:\n%s", out)
	}
	if got := field(out, "CapEff"); got != "0000000000000000" {
		t.Errorf("a non-root user has effective capabilities %s", got)
	}
}

func TestMountsMaskedAndReadonly(t *testing.T) {
	needRoot(t)
	vol := t.TempDir()
	os.WriteFile(filepath.Join(vol, "data"), []byte("kept"), 0o644)
	out, e := run(t, Spec{
		Mounts: []Mount{{Source: vol, Target: "/mnt", Type: "bind", ReadOnly: true}, {Source: "tmpfs", Target: "/run/x", Type: "tmpfs"}},
		Args: []string{"sh", "-c", `
			cat /mnt/data; echo
			touch /mnt/new 2>/dev/null && echo mnt-writable
			touch /usr/new 2>/dev/null && echo root-writable
			touch /run/x/ok && echo run-writable
			echo 1 > /proc/sys/kernel/panic 2>/dev/null && echo procsys-writable
			echo keys=$(wc -c < /proc/keys)
			ls /sys/firmware | wc -l
			ls /dev | tr '\n' ' '; echo
			ip link show 2>/dev/null | grep -c '^[0-9]' || cat /proc/net/dev | tail -n +3 | wc -l`},
	})
	if !e.Status.Exited() || e.Status.ExitStatus() != 0 {
		t.Fatalf("exit %v\n%s", e, out)
	}
	for _, want := range []string{"kept\n", "run-writable", "keys=0", "\n0\n", "null", "urandom", "pts", "ptmx"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	for _, bad := range []string{"mnt-writable", "root-writable", "procsys-writable", "sda", "kmsg"} {
		if strings.Contains(out, bad) {
			t.Errorf("found %q in:\n%s", bad, out)
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(out), "\n1") {
		t.Errorf("a private network namespace should hold lo only:\n%s", out)
	}
}

func TestStartErrorIsReported(t *testing.T) {
	needRoot(t)
	r := reaper.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	_, err := Start(r, Spec{Name: "bad", Root: "/", Staging: t.TempDir(), Network: "none", Args: []string{"no-such-program"}}, nil, Stdio{})
	if err == nil || !strings.Contains(err.Error(), "no-such-program: not found on PATH") {
		t.Fatalf("err = %v", err)
	}
	_, err = Start(r, Spec{Name: "bad", Root: "/", Staging: t.TempDir(), Network: "none", Args: []string{"true"},
		Mounts: []Mount{{Source: t.TempDir(), Target: "/no/such/dir", Type: "bind"}}}, nil, Stdio{})
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("err = %v", err)
	}
}

func mask(t *testing.T, caps []string) uint64 {
	m, err := capSet(&Spec{Caps: caps})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// MountFlags: private sees no host mount made after the start, slave
// and shared do, and shared makes the container's root a shared mount
// (dockerd's volumes and netns files rely on it).
func TestMountPropagation(t *testing.T) {
	needRoot(t)
	for _, prop := range []string{"private", "slave", "shared"} {
		t.Run(prop, func(t *testing.T) {
			vol := t.TempDir()
			// vol as a shared mount of its own, as / is on Berth.
			if err := unix.Mount(vol, vol, "", unix.MS_BIND, ""); err != nil {
				t.Fatal(err)
			}
			defer unix.Unmount(vol, unix.MNT_DETACH)
			if err := unix.Mount("", vol, "", unix.MS_SHARED, ""); err != nil {
				t.Fatal(err)
			}
			os.Mkdir(filepath.Join(vol, "sub"), 0o755)
			done := make(chan string, 1)
			go func() {
				out, _ := run(t, Spec{
					Propagation: prop,
					Mounts:      []Mount{{Source: vol, Target: "/mnt", Type: "bind"}},
					Args: []string{"sh", "-c", `
						touch /mnt/started
						while [ ! -e /mnt/go ]; do sleep 0.05; done
						test -e /mnt/sub/marker && echo sees-host-mount
						awk '$5 == "/" && / shared:/ {print "root-shared"}' /proc/self/mountinfo`},
				})
				done <- out
			}()
			for i := 0; ; i++ {
				if _, err := os.Stat(filepath.Join(vol, "started")); err == nil {
					break
				}
				if i > 600 {
					t.Fatal("the container did not start")
				}
				time.Sleep(50 * time.Millisecond)
			}
			sub := filepath.Join(vol, "sub")
			if err := unix.Mount("tmpfs", sub, "tmpfs", 0, ""); err != nil {
				t.Fatal(err)
			}
			defer unix.Unmount(sub, unix.MNT_DETACH)
			os.WriteFile(filepath.Join(sub, "marker"), nil, 0o644)
			os.WriteFile(filepath.Join(vol, "go"), nil, 0o644)
			out := <-done
			if sees := strings.Contains(out, "sees-host-mount"); sees != (prop != "private") {
				t.Errorf("%s: sees the host's later mount: %v\n%s", prop, sees, out)
			}
			if shared := strings.Contains(out, "root-shared"); shared != (prop == "shared") {
				t.Errorf("%s: root shared: %v\n%s", prop, shared, out)
			}
		})
	}
}

// testCgroup makes a cgroup v2 group for one test (the host's unified
// hierarchy, or its hybrid one) and removes it afterwards.
func testCgroup(t *testing.T) *os.File {
	t.Helper()
	var base string
	for _, p := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			base = p
			break
		}
	}
	if base == "" {
		t.Fatal("no cgroup v2 hierarchy on this host")
	}
	dir := filepath.Join(base, fmt.Sprintf("berth-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-")))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cg, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cg.Close()
		for i := 0; i < 50 && os.Remove(dir) != nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	})
	return cg
}

// A default container can open the nodes of its own /dev and its ptys,
// nothing else: not a host device bind-mounted in, and it cannot make
// one (no CAP_MKNOD). A privileged one can (issue 15.1).
func TestDevicesAllowList(t *testing.T) {
	needRoot(t)
	script := `head -c1 /dev/urandom >/dev/null && echo urandom ok
echo x >/dev/null && echo null ok
mknod /tmp/null c 1 3 2>/dev/null && echo mknod null ok || echo mknod null refused
mknod /tmp/mem c 1 1 2>/dev/null && echo mknod ok || echo mknod refused
mknod /tmp/vda b 254 0 2>/dev/null && echo mknod block ok || echo mknod block refused
(exec 3</dev/kmsg) 2>/dev/null && echo kmsg ok || echo kmsg refused`
	kmsg := []Mount{{Source: "/dev/kmsg", Target: "/dev/kmsg", Type: "bind"}}
	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"default", Spec{Mounts: kmsg}, "urandom ok\nnull ok\nmknod null refused\nmknod refused\nmknod block refused\nkmsg refused\n"},
		// A unit that adds CAP_MKNOD makes the nodes of the list, no others.
		{"mknod", Spec{Mounts: kmsg, Caps: append([]string{"CAP_MKNOD"}, DefaultCaps...)},
			"urandom ok\nnull ok\nmknod null ok\nmknod refused\nmknod block refused\nkmsg refused\n"},
		{"privileged", Spec{Privileged: true, Caps: DefaultCaps}, "urandom ok\nnull ok\nmknod null ok\nmknod ok\nmknod block ok\nkmsg ok\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.spec
			s.Args = []string{"/bin/sh", "-c", script}
			out, e := runIn(t, s, testCgroup(t))
			if !e.Status.Exited() || out != tc.want {
				t.Errorf("%v\n%s\nwant\n%s", e, out, tc.want)
			}
		})
	}
}

// A process run in a container (a health check, exec) is in the
// container's mount namespace, not the host's: a container that can see
// the check could otherwise reach the host's files through
// /proc/CHECK/root (issue 15.3).
func TestExecJoinsTheMountNamespace(t *testing.T) {
	needRoot(t)
	r := reaper.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	s := Spec{Name: "t", Hostname: "t", Root: "/", Staging: t.TempDir(), Caps: DefaultCaps, Network: "private",
		Args: []string{"/bin/sleep", "60"}}
	p, err := Start(r, s, nil, Stdio{})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Kill(p.Pid, unix.SIGKILL)
	want, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", p.Pid))
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	x, err := Exec(r, p.Pid, s, []string{"/bin/sh", "-c", "readlink /proc/self/ns/mnt; ls /proc/1/root/proc >/dev/null && echo root of pid 1 ok; echo $(hostname)"}, nil, Stdio{nil, out, out})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-x.Exit:
		b, _ := os.ReadFile(out.Name())
		if !e.Status.Exited() || string(b) != want+"\nroot of pid 1 ok\nt\n" {
			t.Fatalf("exec: %v\n%s\nwant the container's %s", e, b, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("exec did not exit")
	}
}

// A spec with nothing to run is refused by Start, not started as a helper
// that fails later while Start reports success.
func TestStartWithoutCommand(t *testing.T) {
	r := reaper.New()
	_, err := Start(r, Spec{Name: "empty", Root: "/", Staging: t.TempDir()}, nil, Stdio{})
	if err == nil || !strings.Contains(err.Error(), "container empty: no command to run") {
		t.Fatalf("got %v", err)
	}
}

// A volume's source follows root's links (/lib → usr/lib) but not one a
// user planted in a directory of theirs (issue 15.10).
func TestVolumeSourceFollowsOnlyRootsLinks(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "usr/lib/data"), 0o755)
	os.WriteFile(filepath.Join(dir, "usr/lib/data/f"), []byte("root's\n"), 0o644)
	os.Symlink("usr/lib", filepath.Join(dir, "lib"))
	os.MkdirAll(filepath.Join(dir, "home/bob"), 0o755)
	os.Symlink("/etc", filepath.Join(dir, "home/bob/data"))
	os.Lchown(filepath.Join(dir, "home/bob/data"), 1000, 1000)

	out, e := run(t, Spec{Mounts: []Mount{{Source: filepath.Join(dir, "lib/data"), Target: "/mnt", Type: "bind"}},
		Args: []string{"/bin/cat", "/mnt/f"}})
	if !e.Status.Exited() || e.Status.ExitStatus() != 0 || out != "root's\n" {
		t.Fatalf("root's link: %v %q", e, out)
	}
	r := reaper.New()
	s := Spec{Name: "v", Hostname: "v", Root: "/", Staging: t.TempDir(), Caps: DefaultCaps, Network: "none",
		Mounts: []Mount{{Source: filepath.Join(dir, "home/bob/data"), Target: "/mnt", Type: "bind"}},
		Args:   []string{"/bin/true"}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	_, err := Start(r, s, nil, Stdio{})
	if err == nil || !strings.Contains(err.Error(), "owned by uid 1000: only root's links are followed") {
		t.Fatalf("bob's link: %v", err)
	}
}

// A default container runs under Docker's seccomp profile: what the
// profile ties to a capability (unshare, mount: CAP_SYS_ADMIN) fails
// without it even where the kernel alone would allow it (a user
// namespace needs no capability), and works with it. A privileged
// container has no filter.
func TestSeccompDefaultProfile(t *testing.T) {
	needRoot(t)
	script := `grep '^Seccomp:' /proc/self/status
unshare -Ur true 2>/dev/null && echo unshare ok || echo unshare refused
mount -t tmpfs none /tmp 2>/dev/null && echo mount ok || echo mount refused`
	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"default", Spec{}, "Seccomp:\t2\nunshare refused\nmount refused\n"},
		{"sys_admin", Spec{Caps: append([]string{"CAP_SYS_ADMIN"}, DefaultCaps...)}, "Seccomp:\t2\nunshare ok\nmount ok\n"},
		{"privileged", Spec{Privileged: true, Caps: DefaultCaps}, "Seccomp:\t0\nunshare ok\nmount ok\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.spec
			s.Args = []string{"/bin/sh", "-c", script}
			out, e := run(t, s)
			if !e.Status.Exited() || out != tc.want {
				t.Errorf("%v\n%s\nwant\n%s", e, out, tc.want)
			}
		})
	}
}
