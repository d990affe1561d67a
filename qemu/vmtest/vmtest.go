// Package vmtest is the QEMU harness's side for tests: it finds the build,
// starts VMs that end with the test (showing the console when it failed),
// and turns the harness's errors into test failures. It is apart from
// package qemu so that the commands built on the harness (berth-vm,
// berth-bench) do not link package testing.
package vmtest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"berth.dev/berth/qemu"
)

// VM is a running QEMU of a test.
type VM struct{ *qemu.VM }

// FindBuild locates the build directory: $BERTH_BUILD, else build/ at the
// module root. Without an image the test fails under CI (CI=true) and is
// skipped elsewhere, so `go test ./...` works on a laptop.
func FindBuild(t testing.TB) qemu.Build {
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
	b := qemu.BuildAt(dir)
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

// Start starts a VM that is killed when the test ends; if the test failed
// it logs the QEMU command line and the console's tail first.
func Start(t testing.TB, cfg qemu.Config) *VM {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	v, err := qemu.Start(cfg)
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
	return &VM{v}
}

// MustExpect is Expect that fails the test.
func (v *VM) MustExpect(t testing.TB, re string, timeout time.Duration) (qemu.Line, []string) {
	t.Helper()
	l, m, err := v.Expect(re, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return l, m
}

// PowerOff is qemu's PowerOff that fails the test.
func (v *VM) PowerOff(t testing.TB, timeout time.Duration) {
	t.Helper()
	if err := v.VM.PowerOff(timeout); err != nil {
		t.Fatal(err)
	}
}
