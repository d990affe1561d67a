package tests

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/qemu"
	"berth.dev/berth/qemu/vmtest"
	"berth.dev/berth/sysd/api/wire"
)

// bootShell boots cfg with the debug shell on ttyS1 and returns the VM,
// ready and with the shell up, and the connected shell.
func bootShell(t *testing.T, cfg qemu.Config) (*vmtest.VM, *qemu.Shell) {
	t.Helper()
	cfg.Append += " berth.debug_shell"
	cfg.DebugShell = true
	vm := vmtest.Start(t, cfg)
	expectReady(t, vm, "A")
	vm.MustExpect(t, `^berth: service debug-shell\.service: up$`, 60*time.Second)
	sh, err := vm.Shell()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Close() })
	return vm, sh
}

// must runs cmd in the guest's debug shell and fails the test unless it
// exits 0.
func must(t *testing.T, sh *qemu.Shell, cmd string) string {
	t.Helper()
	out, code, err := sh.Run(cmd, 60*time.Second)
	if err != nil || code != 0 {
		t.Fatalf("guest: %s: exit %d, %v\n%s", cmd, code, err, out)
	}
	return out
}

// writeUnit writes an admin's unit file into the guest's /etc.
func writeUnit(t *testing.T, sh *qemu.Shell, name, body string) {
	t.Helper()
	must(t, sh, fmt.Sprintf("mkdir -p /host/etc/berth/services && cat > /host/etc/berth/services/%s <<'EOF'\n%sEOF", name, body))
}

// services asks os-ctl in the guest for every service, as JSON.
func services(t *testing.T, sh *qemu.Shell) map[string]wire.Service {
	t.Helper()
	out := must(t, sh, "os-ctl service ls --json")
	var list []wire.Service
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("os-ctl service ls --json: %v\n%s", err, out)
	}
	m := map[string]wire.Service{}
	for _, s := range list {
		m[strings.TrimSuffix(s.Name, ".service")] = s
	}
	return m
}

// waitFor polls the guest until cond holds for the named service.
func waitFor(t *testing.T, sh *qemu.Shell, name string, what string, cond func(wire.Service) bool) wire.Service {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		s := services(t, sh)[name]
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never %s: %+v", name, what, s)
		}
		time.Sleep(time.Second)
	}
}

func eventStates(t *testing.T, sh *qemu.Shell, name string) string {
	t.Helper()
	out := must(t, sh, "os-ctl service status --json "+name)
	var s wire.Service
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var st []string
	for _, e := range s.Events {
		st = append(st, string(e.State))
	}
	return strings.Join(st, " ")
}

const toolbox = "[Container]\nImage=toolbox\nVolume=/usr/lib/berth/sysd:/usr/bin/os-ctl:ro\n"

// Services come up in dependency order with readiness; a killed service is
// restarted; a crash loop ends failed while the rest stay up; MemoryMax is
// enforced by the OOM killer; os-ctl inside the guest shows all of it.
func TestSystemServices(t *testing.T) {
	t.Parallel()
	vm, sh := bootShell(t, direct(vmtest.FindBuild(t), "A"))

	// The root is read through dm-verity, and every block of it checks.
	if out := must(t, sh, "cat /sys/block/dm-0/dm/name; grep '^/dev/dm-0 / squashfs ro' /proc/1/mounts"); !strings.HasPrefix(out, "berth-root\n/dev/dm-0 / ") {
		t.Fatalf("root device: %q", out)
	}
	must(t, sh, "dd if=/dev/dm-0 of=/dev/null bs=1M 2>&1")
	mustMatch(t, must(t, sh, "os-ctl status"), `(?m)^root:\s+verified by dm-verity, root hash [0-9a-f]{64}$`)

	writeUnit(t, sh, "db.service", "[Service]\nType=notify\n"+toolbox+
		"Exec=sh -c 'sleep 2; os-ctl notify --ready --status=accepting; exec sleep 100000'\n")
	writeUnit(t, sh, "app.service", "[Unit]\nRequires=db.service\nAfter=db.service\n[Service]\nRestart=always\nRestartSec=200ms\n"+toolbox+
		"Exec=sh -c 'echo app started; exec sleep 100000'\n[Service]\nTimeoutStopSec=1s\n")
	writeUnit(t, sh, "crash.service", "[Unit]\nStartLimitBurst=3\nStartLimitIntervalSec=30s\n[Service]\nRestart=always\nRestartSec=100ms\n"+toolbox+
		"Exec=sh -c 'echo about to crash; exit 7'\n")
	writeUnit(t, sh, "hog.service", "[Unit]\nStartLimitBurst=2\n[Service]\nMemoryMax=16M\nRestart=on-failure\nRestartSec=100ms\n"+toolbox+
		"Exec=dd if=/dev/zero of=/dev/null bs=64M count=1\n")
	writeUnit(t, sh, "typo.service", "[Service]\nRestrt=always\n"+toolbox+"Exec=true\n")
	must(t, sh, "os-ctl reload")

	app := waitFor(t, sh, "app", "up", func(s wire.Service) bool { return s.Up })
	if got, want := eventStates(t, sh, "app"), "inactive waiting starting running up"; got != want {
		t.Errorf("app events: got %q, want %q", got, want)
	}
	db := services(t, sh)["db"]
	if !db.Up || db.Status != "accepting" {
		t.Errorf("db: %+v", db)
	}
	if !app.Since.After(db.Since) {
		t.Errorf("app up at %v, before db at %v", app.Since, db.Since)
	}

	// Killed from the admin's view of the machine: restarted.
	must(t, sh, fmt.Sprintf("kill -9 %d", app.Pid))
	waitFor(t, sh, "app", "restarted", func(s wire.Service) bool { return s.Up && s.Pid != app.Pid })
	if got, want := eventStates(t, sh, "app"), "inactive waiting starting running up exited backoff starting running up"; got != want {
		t.Errorf("app events after kill: got %q, want %q", got, want)
	}

	// Stopped (SIGTERM ignored by sh as PID 1: cgroup.kill after the
	// timeout) and started again in a fresh cgroup.
	before := services(t, sh)["app"]
	must(t, sh, "os-ctl service restart app")
	waitFor(t, sh, "app", "up again after restart", func(s wire.Service) bool { return s.Up && s.Pid != before.Pid })

	crash := waitFor(t, sh, "crash", "failed", func(s wire.Service) bool { return s.State == "failed" })
	if !strings.Contains(crash.Reason, "3 starts within 30s") {
		t.Errorf("crash reason: %q", crash.Reason)
	}
	if out := must(t, sh, "os-ctl logs crash"); strings.Count(out, "about to crash") != 3 {
		t.Errorf("crash log:\n%s", out)
	}

	// OOM-killed, recorded, restarted, and again, until the start limit.
	waitFor(t, sh, "hog", "failed", func(s wire.Service) bool { return s.State == "failed" })
	if got, want := eventStates(t, sh, "hog"), "inactive starting running up exited backoff starting running up exited backoff failed"; got != want {
		t.Errorf("hog events: got %q, want %q", got, want)
	}
	out := must(t, sh, "os-ctl service status hog")
	if strings.Count(out, "exited: signal SIGKILL; killed by the OOM killer (MemoryMax=16M)") != 2 {
		t.Errorf("hog was not recorded as OOM-killed twice:\n%s", out)
	}

	all := services(t, sh)
	for _, name := range []string{"db", "app", "debug-shell"} {
		if !all[name].Up {
			t.Errorf("%s is %s, want up", name, all[name].State)
		}
		if all[name].Usage == nil || all[name].Usage.MemoryBytes == 0 {
			t.Errorf("%s: no memory use reported", name)
		}
	}
	if out := must(t, sh, "os-ctl service ls"); !strings.Contains(out, "SERVICE") {
		t.Errorf("service ls:\n%s", out)
	}
	// A wrong file is named with its line, key and fix, and not started.
	if out := must(t, sh, "os-ctl status"); !strings.Contains(out, "/etc/berth/services/typo.service:2: [Service] Restrt: unknown key (did you mean Restart?)") {
		t.Errorf("os-ctl status does not report the bad unit:\n%s", out)
	}
	if s := services(t, sh)["typo"]; s.State != "invalid" || s.Pid != 0 {
		t.Errorf("typo: %+v", s)
	}
	// Logs: in memory through the API, and on STATE with timestamps.
	if out := must(t, sh, "cat /host/var/log/berth/crash.log"); !regexpMatch(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z about to crash$`, out) {
		t.Errorf("crash.log on STATE:\n%s", out)
	}
	if out := must(t, sh, "os-ctl logs kernel -n 1000"); !strings.Contains(out, "Memory cgroup out of memory") {
		t.Errorf("kernel log lacks the OOM kill:\n%s", out)
	}
	if out := must(t, sh, "os-ctl logs sysd -n 1000"); !strings.Contains(out, "service app.service: up") {
		t.Errorf("sysd's log:\n%s", out)
	}
	// State changes are on the console too.
	vm.MustExpect(t, `^berth: service crash\.service: failed: 3 starts within 30s`, 5*time.Second)

	t.Log(must(t, sh, "os-ctl service ls; os-ctl status"))

	// Power off through the API: services stop in reverse order first.
	sh.Run("os-ctl poweroff", 5*time.Second)
	vm.MustExpect(t, `^berth: service app\.service: stopping$`, time.Minute)
	vm.MustExpect(t, `^berth: service db\.service: stopping$`, time.Minute)
	vm.MustExpect(t, `^berth: sysd: all services stopped$`, time.Minute)
	if err := vm.Wait(time.Minute); err != nil {
		t.Fatalf("no poweroff: %v", err)
	}
}
