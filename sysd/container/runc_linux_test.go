package container

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// view is what a process sees of its own privileges from inside a
// container; the probe (this test binary run as /probe) prints it.
type view struct {
	Status map[string]string          // Cap*, NoNewPrivs from /proc/self/status
	NS     map[string]string          // namespace links
	Mounts map[string]map[string]bool // mount point → its options (per mount and super block)
	Hidden map[string]bool            // masked path → hidden (empty or absent)
	Write  map[string]bool            // path → writable
	// Refused is each probed system call → refused with EPERM (by the
	// seccomp filter, or for want of a capability).
	Refused map[string]bool
}

// probeNodes are device nodes (type, major, minor) the probe tries to open.
var probeNodes = map[string][3]uint32{
	"null": {unix.S_IFCHR, 1, 3}, "mem": {unix.S_IFCHR, 1, 1}, "kmsg": {unix.S_IFCHR, 1, 11},
	"loop-control": {unix.S_IFCHR, 10, 237}, "loop0": {unix.S_IFBLK, 7, 0},
}

// probeCalls are system calls a container has no business making, each
// made with arguments that do nothing when allowed (errors such as EINVAL
// or EFAULT then), so that only EPERM means refused.
var probeCalls = map[string][4]uintptr{
	"keyctl":            {unix.SYS_KEYCTL, 0, ^uintptr(2), 0},      // KEYCTL_GET_KEYRING_ID, session
	"add_key":           {unix.SYS_ADD_KEY, 0, 0, 0},               // EFAULT when allowed
	"request_key":       {unix.SYS_REQUEST_KEY, 0, 0, 0},           // EFAULT
	"unshare":           {unix.SYS_UNSHARE, 0, 0, 0},               // no flags: a no-op
	"setns":             {unix.SYS_SETNS, ^uintptr(0), 0, 0},       // EBADF
	"mount":             {unix.SYS_MOUNT, 0, 0, 0},                 // EFAULT
	"umount2":           {unix.SYS_UMOUNT2, 0, 0, 0},               // EFAULT
	"bpf":               {unix.SYS_BPF, ^uintptr(0), 0, 0},         // EINVAL
	"perf_event_open":   {unix.SYS_PERF_EVENT_OPEN, 0, 0, 0},       // EFAULT
	"userfaultfd":       {unix.SYS_USERFAULTFD, ^uintptr(0), 0, 0}, // EINVAL
	"acct":              {unix.SYS_ACCT, 0, 0, 0},                  // EPERM without CAP_SYS_PACCT either way
	"reboot":            {unix.SYS_REBOOT, 0, 0, 0},                // bad magic: EINVAL
	"kexec_load":        {unix.SYS_KEXEC_LOAD, 0, 0, 0},
	"init_module":       {unix.SYS_INIT_MODULE, 0, 0, 0},
	"open_by_handle_at": {unix.SYS_OPEN_BY_HANDLE_AT, ^uintptr(0), 0, 0},
	"personality":       {unix.SYS_PERSONALITY, 0x0008, 0, 0}, // anything but the usual: refused by Docker's
	"clock_settime":     {unix.SYS_CLOCK_SETTIME, 0, 0, 0},    // EFAULT
	"swapon":            {unix.SYS_SWAPON, 0, 0, 0},
	"syslog":            {unix.SYS_SYSLOG, 10, 0, 0}, // SYSLOG_ACTION_SIZE_BUFFER
	"ioperm":            {unix.SYS_IOPERM, 0, 0, 0},  // num 0: EINVAL or nothing
	"lookup_dcookie":    {unix.SYS_LOOKUP_DCOOKIE, 0, 0, 0},
	"quotactl":          {unix.SYS_QUOTACTL, 0, 0, 0},
	"ptrace":            {unix.SYS_PTRACE, ^uintptr(0), 0, 0}, // bad request: EIO/ESRCH
}

func probe() {
	v := view{Status: map[string]string{}, NS: map[string]string{}, Mounts: map[string]map[string]bool{},
		Hidden: map[string]bool{}, Write: map[string]bool{}, Refused: map[string]bool{}}
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		k, val, _ := strings.Cut(l, ":")
		if strings.HasPrefix(k, "Cap") || k == "NoNewPrivs" || k == "Seccomp" {
			v.Status[k] = strings.TrimSpace(val)
		}
	}
	for _, ns := range []string{"mnt", "pid", "net", "ipc", "uts", "cgroup", "user"} {
		v.NS[ns], _ = os.Readlink("/proc/self/ns/" + ns)
	}
	f, _ := os.Open("/proc/self/mountinfo")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		opts := map[string]bool{}
		for _, o := range strings.Split(fs[5], ",") {
			opts[o] = true
		}
		for i, x := range fs {
			if x == "-" {
				for _, o := range strings.Split(fs[i+3], ",") {
					opts["sb:"+o] = true
				}
			}
		}
		v.Mounts[fs[4]] = opts // the last mount on a point is the one seen
	}
	for _, p := range MaskedPaths {
		b, err := os.ReadFile(p)
		ents, derr := os.ReadDir(p)
		v.Hidden[p] = (err != nil || len(b) == 0) && (derr != nil || len(ents) == 0)
	}
	for _, p := range []string{"/", "/usr", "/sys/kernel", "/proc/sys", "/sys/fs/cgroup"} {
		f, err := os.CreateTemp(p, ".probe")
		if err == nil {
			f.Close()
			os.Remove(f.Name())
		}
		v.Write[p] = err == nil
	}
	for name := range probeNodes {
		fd, err := unix.Open("/nodes/"+name, unix.O_RDONLY|unix.O_NONBLOCK, 0)
		if err == nil {
			unix.Close(fd)
		}
		v.Refused["open "+name] = err == unix.EPERM || err == unix.EACCES
	}
	for name, c := range probeCalls {
		_, _, errno := unix.Syscall(c[0], c[1], c[2], c[3])
		v.Refused[name] = errno == unix.EPERM
	}
	json.NewEncoder(os.Stdout).Encode(v)
	os.Exit(0)
}

func init() {
	if filepath.Base(os.Args[0]) == "probe" {
		probe()
	}
}

// The same unit, run by sysd's runtime and by runc from an OCI config
// generated from it: sysd's container must be no more privileged.
func TestNoMorePrivilegedThanRunc(t *testing.T) {
	needRoot(t)
	runc, err := exec.LookPath("runc")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("runc is missing: make test installs it (Debian's runc) for this check")
		}
		t.Skip("runc is not installed (apt-get install runc)")
	}
	// A minimal root file system holding a static build of this test
	// binary as /probe, the same for both runtimes.
	rootfs := t.TempDir()
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp", "etc", "nodes"} {
		os.Mkdir(filepath.Join(rootfs, d), 0o755)
	}
	// Device nodes in the image itself, outside the private /dev: what
	// the device controller lets a container open.
	for name, dev := range probeNodes {
		if err := unix.Mknod(filepath.Join(rootfs, "nodes", name), dev[0]|0o666, int(unix.Mkdev(dev[1], dev[2]))); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"/etc/passwd", "/etc/group"} {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(rootfs, f), b, 0o644)
	}
	build := exec.Command("go", "test", "-c", "-o", filepath.Join(rootfs, "probe"), ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name string
		spec Spec
	}{
		{"default", Spec{Network: "private"}},
		{"user", Spec{Network: "none", User: "nobody"}},
		{"caps", Spec{Network: "host", PIDHost: true, Caps: []string{"CAP_NET_ADMIN", "CAP_SYS_TIME"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.spec
			s.Name, s.Hostname, s.Root = "probe", "probe", rootfs
			if s.Caps == nil {
				s.Caps = DefaultCaps
			}
			s.Args = []string{"/probe"}
			// In a cgroup of its own, as sysd runs it: the device
			// program is attached there.
			out, e := runIn(t, s, testCgroup(t))
			if !e.Status.Exited() || e.Status.ExitStatus() != 0 {
				t.Fatalf("berth: %v\n%s", e, out)
			}
			var ours view
			if err := json.Unmarshal([]byte(out), &ours); err != nil {
				t.Fatalf("berth: %v\n%s", err, out)
			}

			uid := uint32(0)
			if s.User == "nobody" {
				uid = 65534
			}
			bundle := t.TempDir()
			oci := OCI(s, rootfs, uid, uid)
			if !s.Privileged {
				// runc with Docker's profile, as dockerd gives it.
				if oci.Linux.Seccomp, err = SeccompProfile(s.Caps); err != nil {
					t.Fatal(err)
				}
			}
			cfg, _ := json.MarshalIndent(oci, "", " ")
			os.WriteFile(filepath.Join(bundle, "config.json"), cfg, 0o644)
			id := fmt.Sprintf("berth-probe-%d", os.Getpid())
			cmd := exec.Command(runc, "--root", filepath.Join(bundle, "state"), "run", "--bundle", bundle, id)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			rout, err := cmd.Output()
			if err != nil {
				t.Fatalf("runc: %v\n%s%s", err, rout, stderr.String())
			}
			var theirs view
			if err := json.Unmarshal(rout, &theirs); err != nil {
				t.Fatalf("runc: %v\n%s%s", err, rout, stderr.String())
			}
			compare(t, ours, theirs)
		})
	}
}

// compare fails for every way ours is more privileged than theirs.
func compare(t *testing.T, ours, theirs view) {
	t.Helper()
	host := map[string]string{}
	for ns := range ours.NS {
		host[ns], _ = os.Readlink("/proc/self/ns/" + ns)
	}
	for ns, link := range theirs.NS {
		if link != host[ns] && ours.NS[ns] == host[ns] {
			t.Errorf("runc gives a new %s namespace; berth shares the host's", ns)
		}
	}
	for _, k := range []string{"CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"} {
		o, _ := strconv.ParseUint(ours.Status[k], 16, 64)
		r, _ := strconv.ParseUint(theirs.Status[k], 16, 64)
		if o&^r != 0 {
			t.Errorf("%s: berth %s has capabilities runc's %s has not", k, ours.Status[k], theirs.Status[k])
		}
	}
	if theirs.Status["NoNewPrivs"] == "1" && ours.Status["NoNewPrivs"] != "1" {
		t.Errorf("runc sets no_new_privs, berth does not")
	}
	if theirs.Status["Seccomp"] != "0" && ours.Status["Seccomp"] == "0" {
		t.Errorf("runc filters system calls (Seccomp: %s), berth does not", theirs.Status["Seccomp"])
	}
	var refused []string
	for name, r := range theirs.Refused {
		if r && !ours.Refused[name] {
			t.Errorf("system call %s is refused under runc, not under berth", name)
		}
		if ours.Refused[name] {
			refused = append(refused, name)
		}
	}
	sort.Strings(refused)
	t.Logf("refused under berth: %d of %d probed: %s", len(refused), len(probeCalls)+len(probeNodes), strings.Join(refused, " "))
	for p, hidden := range theirs.Hidden {
		if hidden && !ours.Hidden[p] {
			t.Errorf("%s is hidden under runc, readable under berth", p)
		}
	}
	for p, w := range ours.Write {
		if w && !theirs.Write[p] {
			t.Errorf("%s is writable under berth, not under runc", p)
		}
	}
	for point, o := range ours.Mounts {
		r, ok := theirs.Mounts[point]
		if !ok {
			t.Errorf("berth has a mount on %s, runc has none", point)
			continue
		}
		if r["ro"] && !o["ro"] {
			t.Errorf("%s is read-only under runc, read-write under berth", point)
		}
		for _, flag := range []string{"nosuid", "nodev", "noexec"} {
			if r[flag] && !o[flag] {
				t.Errorf("%s is %s under runc, not under berth", point, flag)
			}
		}
	}
	if t.Failed() {
		t.Logf("berth: %+v\nrunc:  %+v", ours, theirs)
	}
}
