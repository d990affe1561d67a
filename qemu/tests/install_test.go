package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"berth.dev/berth/qemu"
	"berth.dev/berth/qemu/vmtest"
)

// The installer ISO, as a bare-metal user meets it: a PC with a blank
// 8 GiB SATA disk first in its boot order, the ISO in a drive after it,
// and a NoCloud seed whose user-data says berth.install: {disk: largest,
// reboot: true}. The firmware falls through the blank disk to the ISO;
// the live system runs from it, installs unattended on the largest disk
// it may use (a larger one holding partitions and a too-small one are
// refused by name), and reboots. The firmware then starts the disk, which
// boots with the user-data the installer left on STATE (the seed is out
// by then): SSH takes the key, the host name is set, STATE fills the disk.
func TestISOInstallsUnattended(t *testing.T) {
	t.Parallel()
	iso := findISO(t, vmtest.FindBuild(t))
	dir := t.TempDir()
	blank := filepath.Join(dir, "blank.raw")
	small := filepath.Join(dir, "small.raw")
	used := filepath.Join(dir, "used.raw")
	for p, size := range map[string]int64{blank: 8 << 30, small: 1 << 30, used: 12 << 30} {
		if err := qemu.BlankDisk(p, size); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("sgdisk", "-n", "1:0:+100M", "-c", "1:photos", used).CombinedOutput(); err != nil {
		t.Fatalf("sgdisk: %v: %s", err, out)
	}
	signer, key := sshKey(t)
	seed := cloudLocalds(t, dir, fmt.Sprintf("#cloud-config\nhostname: installed-from-iso\nssh_authorized_keys:\n  - %s\nberth:\n  install:\n    disk: largest\n    reboot: true\n", key),
		"instance-id: iid-install\n")

	cfg := qemu.Config{Dir: filepath.Join(dir, "vm"), Disk: blank, MemoryMB: 1024,
		Hardware: qemu.Hardware{Disk: "ahci", NIC: "e1000e", CDROM: seed, Installer: iso}}
	port := freePort(t)
	cfg.Forwards = []qemu.Forward{{Host: port, Guest: 22}}
	for i, p := range []string{small, used} {
		cfg.Extra = append(cfg.Extra, "-drive", fmt.Sprintf("if=none,id=extra%d,format=raw,file=%s", i, p),
			"-device", fmt.Sprintf("virtio-blk-pci,drive=extra%d", i))
	}
	vm := vmtest.Start(t, cfg)

	// The live system: the root from the medium, STATE in memory.
	vm.MustExpect(t, `^berth: root: slot A from the live medium BERTH_LIVE \(/dev/loop\d+\), verified by dm-verity`, bootTimeout)
	vm.MustExpect(t, `^berth: STATE: this is the live system`, bootTimeout)
	vm.MustExpect(t, `^berth: ready version=\S+ slot=live boot_ms=\d+$`, bootTimeout)
	vm.MustExpect(t, `^berth: install: disk: installing Berth \S+ on /dev/sda \(8\.0 GiB\)$`, 2*time.Minute)
	vm.MustExpect(t, `^berth: install: done: Berth \S+ installed on /dev/sda in [\d.]+s$`, 5*time.Minute)
	// Out with the seed before the machine is back: the installed boot
	// must take its user-data from STATE.
	q, err := vm.QMP()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Execute("eject", map[string]any{"id": "seed", "force": true}); err != nil {
		t.Fatalf("eject the seed: %v", err)
	}
	vm.MustExpect(t, `^berth: install: rebooting into the installed system$`, time.Minute)

	// The installed machine, from the disk the firmware now starts.
	vm.MustExpect(t, `^berth: root: slot A from ROOT-A \(/dev/sda2\), verified by dm-verity`, bootTimeout)
	vm.MustExpect(t, `^berth: user-data: from installed:/var/lib/berth/install/user-data`, bootTimeout)
	expectReady(t, vm, "A")
	installed := time.Since(vm.Started())
	t.Logf("install time, QEMU start to the installed machine's ready line: %.1fs", installed.Seconds())

	c, err := dialSSH(t, port, &ssh.ClientConfig{User: "berth", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second}, 4*time.Minute)
	if err != nil {
		t.Fatalf("ssh with the install's key: %v\n%s", err, vm.Console.Tail(30))
	}
	defer c.Close()
	out := run(t, c, "hostname; df -B1 --output=size /var | tail -1; sudo -n os-ctl status")
	lines := strings.SplitN(out, "\n", 3)
	if lines[0] != "installed-from-iso" {
		t.Errorf("hostname %q, want the install's user-data's", lines[0])
	}
	// STATE is what the 8 GiB disk has after ESP and the two slots
	// (1.7 GiB), less ext4's own.
	if n, err := strconv.ParseInt(strings.TrimSpace(lines[1]), 10, 64); err != nil || n < 6<<30 {
		t.Errorf("/var is %q bytes, want STATE to fill the 8 GiB disk", lines[1])
	}
	if !regexp.MustCompile(`(?m)^storage:\s+/dev/sda4, 6\.\d GiB \(fills its disk\)$`).MatchString(out) {
		t.Errorf("os-ctl status says nothing of STATE filling the disk:\n%s", out)
	}
	// Why "largest" passed over the bigger disk and the small one.
	for _, re := range []string{
		`^berth: install: disk: passed over: /dev/vda is too small: 1\.0 GiB, and Berth needs 3\.\d GiB: not touched$`,
		`^berth: install: disk: passed over: /dev/vdb holds partitions \(vdb1 photos\): not touched \(--force`,
	} {
		if _, err := vm.Console.Seen(regexp.MustCompile(re), time.Second); err != nil {
			t.Errorf("no line %s", re)
		}
	}
	// An installed machine installs nothing: os-ctl install says so.
	refusal, ok := try(t, c, "sudo -n os-ctl install --disk /dev/vda")
	if ok || !strings.Contains(refusal, "install runs on the installer medium's live system") {
		t.Errorf("os-ctl install on an installed machine: succeeded %v: %s", ok, refusal)
	}
}

// The same ISO written to a USB stick (the hybrid image's GPT): the
// firmware starts the stick's ESP, stage 1 loads the USB host and
// storage drivers and finds the medium on the stick's whole disk. The
// admin then installs by hand over SSH: first onto a disk that fails
// writes inside slot A (QEMU's blkdebug), which the installer reports
// with what it had written; then onto a good disk, with progress; a
// second install on that now used disk is refused until --force.
func TestISOFromUSBStickInstallsByHand(t *testing.T) {
	t.Parallel()
	iso := findISO(t, vmtest.FindBuild(t))
	dir := t.TempDir()
	blank := filepath.Join(dir, "blank.raw")
	// The failing disk: EIO for any write that touches slot A's 65th MiB
	// (ROOT-A starts after 1 MiB and the 128 MiB ESP).
	failing := filepath.Join(dir, "failing.raw")
	for _, p := range []string{blank, failing} {
		if err := qemu.BlankDisk(p, 6<<30); err != nil {
			t.Fatal(err)
		}
	}
	inject := filepath.Join(dir, "blkdebug.conf")
	os.WriteFile(inject, []byte(fmt.Sprintf("[inject-error]\nevent = \"pwritev\"\nerrno = \"5\"\nsector = \"%d\"\n", (1+128+64)<<20/512)), 0o644)
	signer, key := sshKey(t)
	ud := filepath.Join(dir, "user-data")
	os.WriteFile(ud, []byte(fmt.Sprintf("#cloud-config\nssh_authorized_keys:\n  - %s\n", key)), 0o644)
	port := freePort(t)
	cfg := qemu.Config{Dir: filepath.Join(dir, "vm"), Disk: blank, MemoryMB: 1024, Forwards: []qemu.Forward{{Host: port, Guest: 22}},
		Extra: []string{"-fw_cfg", "name=opt/berth/user-data,file=" + ud,
			"-device", "qemu-xhci,id=xhci",
			"-drive", "if=none,id=stick,format=raw,readonly=on,file=" + iso,
			"-device", "usb-storage,bus=xhci.0,drive=stick",
			"-drive", "if=none,id=failing,format=raw,file.driver=blkdebug,file.config=" + inject + ",file.image.driver=file,file.image.filename=" + failing,
			"-device", "virtio-blk-pci,drive=failing"}}
	vm := vmtest.Start(t, cfg)
	vm.MustExpect(t, `^berth: live system: /run/berth/live/berth/root\.img from BERTH_LIVE on /dev/sd[a-z]$`, bootTimeout)
	vm.MustExpect(t, `^berth: drivers: (.* )?usb_storage( .*)? \(for \d+ devices, \d+ passes\)$`, bootTimeout)
	vm.MustExpect(t, `^berth: ready version=\S+ slot=live boot_ms=\d+$`, bootTimeout)

	c, err := dialSSH(t, port, &ssh.ClientConfig{User: "berth", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second}, 4*time.Minute)
	if err != nil {
		t.Fatalf("ssh into the live system: %v\n%s", err, vm.Console.Tail(30))
	}
	defer c.Close()
	failed, ok := try(t, c, "sudo -n os-ctl install --disk /dev/vdb")
	if ok || !regexp.MustCompile(`install on /dev/vdb: slot A: .*input/output error.* \(written: partition table, ESP; the disk does not boot Berth until an install ends\)`).MatchString(failed) {
		t.Errorf("an install onto a disk that fails inside slot A: succeeded %v:\n%s", ok, failed)
	}
	out := run(t, c, "printf '#cloud-config\\nhostname: by-hand\\n' > /tmp/ud; sudo -n os-ctl install --disk /dev/vda --user-data /tmp/ud")
	for _, re := range []string{
		`(?m)^disk: installing Berth \S+ on /dev/vda \(6\.0 GiB\)$`,
		`(?m)^write slot A /dev/vda2: 100% `,
		`(?m)^verify slot A /dev/vda2: 100% `,
		`(?m)^done: Berth \S+ installed on /dev/vda in [\d.]+s$`,
		`(?m)^installed; os-ctl reboot boots it`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("os-ctl install: no line %s in:\n%s", re, out)
		}
	}
	again, ok := try(t, c, "sudo -n os-ctl install --disk /dev/vda")
	if ok || !strings.Contains(again, "/dev/vda holds partitions (vda1 ESP, vda2 ROOT-A, vda3 ROOT-B, vda4 STATE): not touched (--force") {
		t.Errorf("a second install on the used disk: succeeded %v: %s", ok, again)
	}
	// The table was grown: STATE reaches the disk's end.
	check := run(t, c, "sudo -n cat /sys/class/block/vda4/size /sys/class/block/vda/size")
	var part, disk int64
	fmt.Sscan(check, &part, &disk)
	if disk == 0 || disk-part > (1800<<20)/512 {
		t.Errorf("STATE is %d of the disk's %d sectors: it does not reach the disk's end", part, disk)
	}
}

// findISO is make iso's installer ISO.
func findISO(t *testing.T, b qemu.Build) string {
	iso := filepath.Join(b.Dir, "images", "berth.iso")
	if _, err := os.Stat(iso); err != nil {
		t.Fatalf("%v: make test builds the ISO (make iso)", err)
	}
	return iso
}
