package tests

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/qemu"
	"berth.dev/berth/qemu/vmtest"
	"berth.dev/berth/sysd/api/wire"
)

const seedUserData = `#cloud-config
hostname: seeded-host
write_files:
  - path: /etc/berth-test/plain
    content: |
      hello from user-data
  - path: /etc/berth-test/secret
    encoding: b64
    content: c2VjcmV0Cg==
    permissions: '0600'
    owner: berth:berth
    defer: true
runcmd:
  - mkdir -p /var/lib/berth-test && echo run >> /var/lib/berth-test/count
bogus_key: 1
timezone: Europe/Berlin
ntp:
  servers: [10.0.2.2:NTPPORT]
`

// bootSeeded boots dir's machine (slot A) with the debug shell and extra
// QEMU arguments.
func bootSeeded(t *testing.T, dir string, extra []string) (*vmtest.VM, *qemu.Shell) {
	t.Helper()
	cfg := direct(vmtest.FindBuild(t), "A")
	cfg.Dir = dir
	cfg.Extra = extra
	return bootShell(t, cfg)
}

// seen fails unless a console line so far (or within a few seconds)
// matches re.
func seen(t *testing.T, vm *vmtest.VM, re string) {
	t.Helper()
	if _, err := vm.Console.Seen(regexp.MustCompile(re), 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func runCount(t *testing.T, sh *qemu.Shell, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _, _ := sh.Run("cat /host/var/lib/berth-test/count 2>/dev/null | wc -l", 10*time.Second)
		if strings.TrimSpace(out) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("runcmd ran %s times, want %s", strings.TrimSpace(out), want)
		}
		time.Sleep(time.Second)
	}
}

// A NoCloud seed (a vfat volume labelled CIDATA) sets the hostname, writes
// files with their modes and owners, and runs runcmd once per instance.
func TestNoCloudSeed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A host-side NTP server an hour ahead: the guest's clock follows.
	ntpPort := fakeNTP(t, time.Hour)
	userData := strings.Replace(seedUserData, "NTPPORT", fmt.Sprint(ntpPort), 1)
	seed, err := qemu.NoCloudSeed(filepath.Join(dir, "seed1"), userData, "instance-id: iid-one\n")
	if err != nil {
		t.Fatal(err)
	}
	vm, sh := bootSeeded(t, dir, qemu.SeedDrive(seed))
	seen(t, vm, `^berth: user-data: from nocloud:/dev/vd[b-z], instance iid-one$`)
	seen(t, vm, `^berth: user-data: nocloud:/dev/vd[b-z]/user-data:15: bogus_key: warning: unknown key, ignored$`)
	runCount(t, sh, "1")
	var st wire.System
	if err := json.Unmarshal([]byte(must(t, sh, "os-ctl status --json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Hostname != "seeded-host" {
		t.Errorf("hostname %q", st.Hostname)
	}
	if out := must(t, sh, "cat /host/etc/berth-test/plain; stat -c '%a %u:%g' /host/etc/berth-test/plain /host/etc/berth-test/secret; cat /host/etc/berth-test/secret; grep ^berth: /host/etc/passwd"); !strings.HasPrefix(out, "hello from user-data\n644 0:0\n600 1000:1000\nsecret\nberth:x:1000:1000:") {
		t.Errorf("files:\n%s", out)
	}
	// The time zone, and the time service asking the servers given.
	if out := must(t, sh, "readlink /host/etc/localtime; cat /host/etc/timezone"); out != "/usr/share/zoneinfo/Europe/Berlin\nEurope/Berlin\n" {
		t.Errorf("timezone:\n%s", out)
	}
	// The offset is measured over a slow TCG round trip: near an hour, not exact.
	line, err := vm.Console.Seen(regexp.MustCompile(`^berth: time: synchronised with 10\.0\.2\.2:\d+ \(offset (\S+),`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`offset (\S+),`).FindStringSubmatch(line.Text); m == nil {
		t.Errorf("no offset in %q", line.Text)
	} else if d, err := time.ParseDuration(m[1]); err != nil || d < time.Hour-2*time.Second || d > time.Hour+2*time.Second {
		t.Errorf("time offset %s, want an hour (±2s)", m[1])
	}
	if out := must(t, sh, "date +%s"); !clockNear(out, time.Now().Add(time.Hour)) {
		t.Errorf("guest clock %s, want about %d", out, time.Now().Add(time.Hour).Unix())
	}
	if out := must(t, sh, "os-ctl config show"); !strings.Contains(out, `"instance_id": "iid-one"`) || !strings.Contains(out, `"hostname": "seeded-host"`) {
		t.Errorf("config show:\n%s", out)
	}
	sh.Close()
	vm.PowerOff(t, time.Minute)

	// The same instance again: runcmd does not run again.
	vm, sh = bootSeeded(t, dir, qemu.SeedDrive(seed))
	seen(t, vm, `runcmd already ran for instance iid-one`)
	runCount(t, sh, "1")
	sh.Close()
	vm.PowerOff(t, time.Minute)

	// A new instance-id: it runs again.
	seed2, err := qemu.NoCloudSeed(filepath.Join(dir, "seed2"), userData, "instance-id: iid-two\n")
	if err != nil {
		t.Fatal(err)
	}
	_, sh = bootSeeded(t, dir, qemu.SeedDrive(seed2))
	runCount(t, sh, "2")
}

// fw_cfg delivers user-data; broken YAML still reaches ready with the
// error on the console and in os-ctl status, and the rest of the boot
// goes on.
func TestFwCfgBrokenYAML(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ud := filepath.Join(dir, "user-data")
	os.WriteFile(ud, []byte("#cloud-config\nhostname: a\nusers:\n  - name: b\n   bad: indent\n"), 0o644)
	vm, sh := bootSeeded(t, dir, []string{"-fw_cfg", "name=opt/berth/user-data,file=" + ud})
	seen(t, vm, `^berth: user-data: from fw_cfg, instance iid-`)
	seen(t, vm, `^berth: user-data: fw_cfg/user-data:3: invalid YAML: did not find expected '-' indicator`)
	if out := must(t, sh, "os-ctl status"); !regexpMatch(`(?m)^problem: +user-data: fw_cfg/user-data:3: invalid YAML`, out) {
		t.Errorf("os-ctl status:\n%s", out)
	}
}

// fakeNTP answers NTP requests on the host's loopback (the guest's
// 10.0.2.2) with a clock ahead by offset; it returns the port.
func fakeNTP(t *testing.T, offset time.Duration) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ntpTime := func(tm time.Time) uint64 {
		secs := uint64(tm.Unix() + 2208988800)
		frac := uint64(tm.Nanosecond()) << 32 / 1e9
		return secs<<32 | frac
	}
	go func() {
		buf := make([]byte, 512)
		for {
			n, addr, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 48 {
				continue
			}
			now := time.Now().Add(offset)
			r := make([]byte, 48)
			r[0] = 0<<6 | 4<<3 | 4 // no leap warning, version 4, server
			r[1] = 1               // stratum 1
			r[2], r[3] = 6, 0xec   // poll, precision
			copy(r[12:16], "TEST")
			binary.BigEndian.PutUint64(r[16:], ntpTime(now.Add(-time.Second)))
			copy(r[24:32], buf[40:48]) // origin: the client's transmit time
			binary.BigEndian.PutUint64(r[32:], ntpTime(now))
			binary.BigEndian.PutUint64(r[40:], ntpTime(time.Now().Add(offset)))
			c.WriteTo(r, addr)
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func clockNear(out string, want time.Time) bool {
	n, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		return false
	}
	d := n - want.Unix()
	return d > -30 && d < 30
}

// The seed as Debian's cloud-localds makes it by default (ISO9660) on a
// SATA CD-ROM beside a virtio disk, as Proxmox attaches it: stage 1's
// coldplug loads the CD-ROM's drivers, so sysd's first search finds it,
// before any service starts.
func TestNoCloudISOFromCloudLocalds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	iso := cloudLocalds(t, dir, "#cloud-config\nhostname: from-iso\n", "instance-id: iid-iso\n")
	vm, sh := bootSeeded(t, dir, []string{"-cdrom", iso})
	if _, err := vm.Console.Seen(regexp.MustCompile(`^berth: user-data: from nocloud:/dev/sr0, instance iid-iso$`), time.Minute); err != nil {
		t.Fatal(err)
	}
	if l, err := vm.Console.Seen(regexp.MustCompile(`^berth: user-data: none found`), 0); err == nil {
		t.Errorf("the first search missed the CD-ROM: %s", l.Text)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		out := must(t, sh, "os-ctl status")
		if strings.Contains(out, "from-iso") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hostname not from the ISO seed:\n%s", out)
		}
		time.Sleep(time.Second)
	}
}
