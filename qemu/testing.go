package qemu

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"berth.dev/berth/internal/layout"
)

// Build is what `make image` left in the build directory.
type Build struct {
	Dir, Disk, Kernel, Initrd string
}

// BuildAt names the artefacts of the build directory dir.
func BuildAt(dir string) Build {
	return Build{
		Dir:    dir,
		Disk:   filepath.Join(dir, "disk.img"),
		Kernel: filepath.Join(dir, "release", "vmlinuz"),
		Initrd: filepath.Join(dir, "release", "initrd.img"),
	}
}

// Direct is a VM that boots the build's kernel and initramfs directly,
// as slot slot, from a copy-on-write overlay of its disk.
func (b Build) Direct(slot string) Config {
	return Config{Disk: b.Disk, Kernel: b.Kernel, Initrd: b.Initrd, Append: layout.Cmdline(slot)}
}

// FindBuild locates the build directory: $BERTH_BUILD, else build/ at the
// module root. Without an image the test fails under CI (CI=true) and is
// skipped elsewhere, so `go test ./...` works on a laptop.
func FindBuild(t testing.TB) Build {
	t.Helper()
	dir := os.Getenv("BERTH_BUILD")
	if dir == "" {
		wd, _ := os.Getwd()
		for d := wd; d != "/"; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				dir = filepath.Join(d, "build")
				break
			}
		}
	}
	b := BuildAt(dir)
	for _, f := range []string{b.Disk, b.Kernel, b.Initrd} {
		if _, err := os.Stat(f); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing: CI must run `make image` before the QEMU tests (make test does)", f)
			}
			t.Skipf("%s is missing: run `make image` (or `make test`) to run the QEMU tests", f)
		}
	}
	return b
}

// StartT starts a VM that is killed when the test ends; if the test failed
// it logs the QEMU command line and the console's tail first.
func StartT(t testing.TB, cfg Config) *VM {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	v, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("QEMU command line:\n%s", v.CommandLine())
			t.Logf("console (last 60 lines):\n%s", v.Console.Tail(60))
			if b, err := os.ReadFile(filepath.Join(cfg.Dir, "qemu.log")); err == nil && len(b) > 0 {
				t.Logf("QEMU stderr:\n%s", b)
			}
		}
		select {
		case <-v.Done():
		default:
			v.Kill()
		}
	})
	return v
}

// MustExpect is Expect that fails the test.
func (v *VM) MustExpect(t testing.TB, re string, timeout time.Duration) (Line, []string) {
	t.Helper()
	l, m, err := v.Expect(re, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return l, m
}

// PowerOff presses the power button once PID 1 watches it, and waits for
// QEMU to exit.
func (v *VM) PowerOff(t testing.TB, timeout time.Duration) {
	t.Helper()
	if _, err := v.Console.Seen(watchingRE, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := v.PressPowerButton(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := v.Wait(timeout); err != nil {
		t.Fatalf("after the power button: %v", err)
	}
}
