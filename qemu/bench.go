package qemu

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"berth.dev/berth/image"
)

// BootSample is one measured boot.
type BootSample struct {
	FirstLine time.Duration // QEMU start → PID 1's first line
	RootUp    time.Duration // stage 1's first line → the root mounted
	Stage2    time.Duration // stage 1's first line → stage 2's
	Ready     time.Duration // QEMU start → the ready line
	UsedKB    int64         // MemTotal − MemAvailable right after ready
	SysdRSSKB int64         // sysd's own resident memory then
	Online    time.Duration // sysd's first line → network online (DHCP)
	SearchMS  int64         // the local user-data search, when nothing is there
	AllUp     time.Duration // QEMU start → every service up (Docker answering /_ping)
	AllUpKB   int64         // MemTotal − MemAvailable then
}

var (
	firstRE  = regexp.MustCompile(`^berth: init stage 1 `)
	readyRE  = regexp.MustCompile(`^berth: ready `)
	rootRE   = regexp.MustCompile(`^berth: root: slot `)
	stage2RE = regexp.MustCompile(`^berth: init stage 2 `)
	memRE    = regexp.MustCompile(`^berth: memory used_kb=(\d+) total_kb=\d+ sysd_rss_kb=(\d+)`)
	floorRE  = regexp.MustCompile(`^floor: first line`)
	// PID 1 announces that the power button works.
	watchingRE = regexp.MustCompile(`berth: power button: watching`)
	sysdRE     = regexp.MustCompile(`^berth: sysd starting`)
	onlineRE   = regexp.MustCompile(`^berth: network: online$`)
	searchRE   = regexp.MustCompile(`^berth: user-data: none found .* searched in (\d+) ms$`)
	allUpRE    = regexp.MustCompile(`^berth: services up n=\d+ boot_ms=\d+ used_kb=(\d+) `)
)

// MeasureBoot boots cfg once and times it.
func MeasureBoot(cfg Config) (BootSample, error) {
	var s BootSample
	vm, err := Start(cfg)
	if err != nil {
		return s, err
	}
	defer vm.Kill()
	first, _, err := vm.Console.Expect(firstRE, 5*time.Minute)
	if err != nil {
		return s, fmt.Errorf("%w\n%s", err, vm.Console.Tail(30))
	}
	ready, _, err := vm.Console.Expect(readyRE, 5*time.Minute)
	if err != nil {
		return s, fmt.Errorf("%w\n%s", err, vm.Console.Tail(30))
	}
	_, m, err := vm.Console.Expect(memRE, time.Minute)
	if err != nil {
		return s, err
	}
	s.FirstLine = first.At.Sub(vm.Started())
	if l, err := vm.Console.Seen(rootRE, time.Second); err == nil {
		s.RootUp = l.At.Sub(first.At)
	}
	if l, err := vm.Console.Seen(stage2RE, time.Second); err == nil {
		s.Stage2 = l.At.Sub(first.At)
	}
	s.Ready = ready.At.Sub(vm.Started())
	s.UsedKB, _ = strconv.ParseInt(m[1], 10, 64)
	s.SysdRSSKB, _ = strconv.ParseInt(m[2], 10, 64)
	if sysd, err := vm.Console.Seen(sysdRE, time.Minute); err == nil {
		if on, err := vm.Console.Seen(onlineRE, time.Minute); err == nil {
			s.Online = on.At.Sub(sysd.At)
		}
	}
	if l, err := vm.Console.Seen(searchRE, time.Minute); err == nil {
		m := searchRE.FindStringSubmatch(l.Text)
		s.SearchMS, _ = strconv.ParseInt(m[1], 10, 64)
	}
	l, err := vm.Console.Seen(allUpRE, 5*time.Minute)
	if err != nil {
		return s, fmt.Errorf("services never all up: %w\n%s", err, vm.Console.Tail(30))
	}
	s.AllUp = l.At.Sub(vm.Started())
	s.AllUpKB, _ = strconv.ParseInt(allUpRE.FindStringSubmatch(l.Text)[1], 10, 64)
	// A clean poweroff, so that the next boot of this machine is an
	// ordinary one (no journal to replay).
	if _, err := vm.Console.Seen(watchingRE, time.Minute); err != nil {
		return s, err
	}
	if err := vm.PressPowerButton(30 * time.Second); err != nil {
		return s, err
	}
	if err := vm.Wait(time.Minute); err != nil {
		return s, fmt.Errorf("power off: %w\n%s", err, vm.Console.Tail(15))
	}
	return s, nil
}

// MeasureFloor boots kernel with an initramfs holding only floorInit and
// times QEMU start → its first line.
func MeasureFloor(cfg Config, floorInit string) (time.Duration, error) {
	initrd := filepath.Join(cfg.Dir, "floor.img")
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return 0, err
	}
	if _, err := os.Stat(initrd); err != nil {
		t := image.Tree{}
		t.Mkdir(0o755, "/dev", "/proc", "/sys")
		t.Add("/dev/console", image.Entry{Kind: image.CharDev, Mode: 0o600, Major: 5, Minor: 1})
		if err := t.Copy("/init", floorInit); err != nil {
			return 0, err
		}
		f, err := os.Create(initrd)
		if err != nil {
			return 0, err
		}
		if err := image.WriteInitramfs(f, t); err != nil {
			return 0, err
		}
		f.Close()
	}
	cfg.Initrd = initrd
	vm, err := Start(cfg)
	if err != nil {
		return 0, err
	}
	defer vm.Kill()
	l, _, err := vm.Console.Expect(floorRE, 5*time.Minute)
	if err != nil {
		return 0, fmt.Errorf("floor: %w\n%s", err, vm.Console.Tail(20))
	}
	return l.At.Sub(vm.Started()), nil
}

// Stats is min, median and max.
type Stats struct{ Min, Median, Max float64 }

// Summarize computes Stats of xs.
func Summarize(xs []float64) Stats {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return Stats{}
	}
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stats{s[0], med, s[len(s)-1]}
}

// BuildFloorInit compiles the floor's init into dir.
func BuildFloorInit(dir string) (string, error) {
	out := filepath.Join(dir, "floor-init")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "berth.dev/berth/cmd/berth-floor-init")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build floor init: %w: %s", err, b)
	}
	return out, nil
}

// MeasureContainerStart boots the build with the debug shell and a second
// disk holding berth-ctbench (ctbench, a static binary), runc with its
// libraries from this host, and the toolbox image as the container root;
// it runs the benchmark n times each way and returns its report.
func MeasureContainerStart(b Build, dir, ctbench string, n int) (string, error) {
	t := image.Tree{}
	t.Mkdir(0o755, "/proc", "/sys", "/dev", "/run", "/etc")
	t.Mkdir(0o1777, "/tmp")
	if err := image.AddELF(t, "/", "/usr/sbin/runc"); err != nil {
		return "", fmt.Errorf("runc from this host (apt-get install runc): %w", err)
	}
	if err := t.Copy("/ctbench", ctbench); err != nil {
		return "", err
	}
	// The container's first process is what sysd uses, not ctbench.
	if err := t.Copy("/container-init", filepath.Join(b.Dir, "bin", "berth-container-init")); err != nil {
		return "", err
	}
	if err := t.CopyDir("/rootfs", filepath.Join(b.Dir, "work/images/toolbox")); err != nil {
		return "", fmt.Errorf("toolbox image tree (run `make image`): %w", err)
	}
	if err := image.Materialize(t, filepath.Join(dir, "bench-tree")); err != nil {
		return "", err
	}
	disk := filepath.Join(dir, "bench.img")
	if err := image.Squashfs(filepath.Join(dir, "bench-tree"), disk, time.Unix(0, 0), image.Zstd); err != nil {
		return "", err
	}
	cfg := b.Direct("A")
	cfg.Dir = filepath.Join(dir, "vm")
	cfg.Append += " berth.debug_shell"
	cfg.DebugShell = true
	cfg.Extra = []string{"-drive", "if=none,id=bench,format=raw,readonly=on,file=" + disk, "-device", "virtio-blk-pci,drive=bench"}
	vm, err := Start(cfg)
	if err != nil {
		return "", err
	}
	defer vm.Kill()
	if _, _, err := vm.Console.Expect(regexp.MustCompile(`^berth: service debug-shell\.service: up$`), 5*time.Minute); err != nil {
		return "", fmt.Errorf("%w\n%s", err, vm.Console.Tail(30))
	}
	sh, err := vm.Shell()
	if err != nil {
		return "", err
	}
	defer sh.Close()
	// A chroot into the bench disk, with the host's /proc, /sys (and its
	// cgroup2) and /dev, so that runc finds its libraries.
	setup := "mkdir -p /tmp/b && mount -t squashfs -o ro /dev/vdb /tmp/b && mount -t proc proc /tmp/b/proc && " +
		"mount --rbind /sys /tmp/b/sys && mount --rbind /dev /tmp/b/dev && mount -t tmpfs tmpfs /tmp/b/run && mount -t tmpfs tmpfs /tmp/b/tmp"
	if out, code, err := sh.Run(setup, time.Minute); err != nil || code != 0 {
		return "", fmt.Errorf("bench setup: exit %d %v: %s", code, err, out)
	}
	out, code, err := sh.Run(fmt.Sprintf("chroot /tmp/b /ctbench -n %d -helper /container-init 2>&1", n), 30*time.Minute)
	if err != nil || code != 0 {
		return "", fmt.Errorf("ctbench: exit %d %v: %s", code, err, out)
	}
	rss, _, _ := sh.Run("grep VmRSS /proc/$(pidof sysd)/status", time.Minute)
	return out + "sysd " + strings.TrimSpace(rss) + " (debug shell running)\n", nil
}
