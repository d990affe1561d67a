package qemu

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"

	"berth.dev/berth/image"
)

// BootSample is one measured boot.
type BootSample struct {
	FirstLine time.Duration // QEMU start → PID 1's first line
	Ready     time.Duration // QEMU start → the ready line
	UsedKB    int64         // MemTotal − MemAvailable right after ready
}

var (
	firstRE = regexp.MustCompile(`^berth: init stage 1 `)
	readyRE = regexp.MustCompile(`^berth: ready `)
	memRE   = regexp.MustCompile(`^berth: memory used_kb=(\d+)`)
	floorRE = regexp.MustCompile(`^floor: first line`)
	// PID 1 announces that the power button works.
	watchingRE = regexp.MustCompile(`berth: power button: watching`)
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
	s.Ready = ready.At.Sub(vm.Started())
	s.UsedKB, _ = strconv.ParseInt(m[1], 10, 64)
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
