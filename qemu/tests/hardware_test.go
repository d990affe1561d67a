package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"berth.dev/berth/qemu"
	"berth.dev/berth/qemu/vmtest"
)

// hwSet is one machine of the hardware matrix: a disk controller and a
// NIC of the kind hypervisors and PCs have, and the drivers coldplug must
// find for them.
type hwSet struct {
	name      string
	hw        qemu.Hardware
	uefi      bool   // boot the disk through OVMF and systemd-boot
	disk      string // the root's device name
	diskDrv   string // the controller's driver, loaded by stage 1
	nicDrv    string // the NIC's driver (a regular expression), loaded by PID 1's coldplug
	hotplugNC bool   // also hot-plug an e1000e on its own network
	// firmware adds an Intel 82551 whose e100 driver asks for microcode
	// the image does not carry (Debian has it in non-free firmware).
	firmware bool
}

// Each machine boots to SSH with user-data from a cloud-localds CD-ROM on
// its disk's controller (q35's SATA for NVMe), read by sysd's first
// search, before any service starts. One boot per hardware set serves
// every check for that set.
func TestHardwareMatrix(t *testing.T) {
	t.Parallel()
	b := vmtest.FindBuild(t)
	signer, key := sshKey(t)
	for _, set := range []hwSet{
		{name: "ahci+e1000e", hw: qemu.Hardware{Disk: "ahci", NIC: "e1000e"}, uefi: true, disk: "sda", diskDrv: "ahci", nicDrv: "e1000e"},
		{name: "pvscsi+vmxnet3", hw: qemu.Hardware{Disk: "pvscsi", NIC: "vmxnet3", HotplugPorts: 1}, disk: "sda", diskDrv: "vmw_pvscsi", nicDrv: "vmxnet3", hotplugNC: true},
		{name: "nvme+e1000", hw: qemu.Hardware{Disk: "nvme", NIC: "e1000"}, disk: "nvme0n1", diskDrv: "nvme", nicDrv: "e1000"},
		{name: "lsi+rtl8139", hw: qemu.Hardware{Disk: "lsi", NIC: "rtl8139"}, disk: "sda", diskDrv: "sym53c8xx", nicDrv: "8139cp|8139too", firmware: true},
	} {
		t.Run(set.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			set.hw.CDROM = cloudLocalds(t, dir, fmt.Sprintf("#cloud-config\nhostname: hw-%s\nssh_authorized_keys:\n  - %s\n",
				strings.NewReplacer("+", "-").Replace(set.name), key), "instance-id: iid-hw\n")
			cfg := qemu.Config{Disk: b.Disk}
			if !set.uefi {
				cfg = direct(b, "A")
			}
			cfg.Dir = dir
			cfg.Hardware = set.hw
			port := freePort(t)
			cfg.Forwards = []qemu.Forward{{Host: port, Guest: 22}}
			if set.firmware {
				cfg.Extra = []string{"-netdev", "user,id=nfw", "-device", "i82551,netdev=nfw,romfile="}
			}
			vm := vmtest.Start(t, cfg)

			// Stage 1 loads the controller's driver because a device
			// asked for it, and finds the slot on it.
			vm.MustExpect(t, `^berth: root: slot A from ROOT-A \(/dev/`+set.disk+`p?2\), verified by dm-verity`, bootTimeout)
			vm.MustExpect(t, `^berth: drivers: (.* )?`+regexp.QuoteMeta(set.diskDrv)+`( .*)? \(for \d+ devices, \d+ passes\)$`, bootTimeout)
			// The seed is read by the first search: no "none found".
			vm.MustExpect(t, `^berth: user-data: from nocloud:/dev/sr0, instance iid-hw$`, bootTimeout)
			if l, err := vm.Console.Seen(regexp.MustCompile(`^berth: user-data: none found`), time.Second); err == nil {
				t.Errorf("the first search missed the CD-ROM: %s", l.Text)
			}
			expectReady(t, vm, "A")
			// PID 1's coldplug runs beside sysd: before or after ready.
			if _, err := vm.Console.Seen(regexp.MustCompile(`^berth: drivers: (.* )?(`+set.nicDrv+`)( .*)? \(coldplug\)$`), 2*time.Minute); err != nil {
				t.Fatalf("PID 1's coldplug did not load the NIC's driver: %v\n%s", err, vm.Console.Tail(40))
			}

			c, err := dialSSH(t, port, &ssh.ClientConfig{User: "berth", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
				HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second}, 4*time.Minute)
			if err != nil {
				t.Fatalf("ssh through the %s NIC: %v\n%s", set.hw.NIC, err, vm.Console.Tail(30))
			}
			defer c.Close()
			hw := run(t, c, "sudo -n os-ctl hw; hostname")
			for _, re := range []string{
				// The kernel names links in the order their drivers
				// register, and drivers load in parallel: beside the
				// firmware case's second NIC, this one may be eth1.
				`(?m)^pci\s+\S+\s+(` + set.nicDrv + `)\s+eth\d+\s+pci:`,
				`(?m)^pci\s+\S+\s+` + regexp.QuoteMeta(set.diskDrv) + `\s`,
				`(?m)^unclaimed: \d+ with no driver in this image`,
				`(?m)^hw-` + regexp.QuoteMeta(strings.NewReplacer("+", "-").Replace(set.name)) + `$`,
			} {
				if !regexp.MustCompile(re).MatchString(hw) {
					t.Errorf("os-ctl hw; hostname: no match for %s in:\n%s", re, hw)
				}
			}
			if set.firmware {
				st := run(t, c, "sudo -n os-ctl status; sudo -n os-ctl hw")
				if !regexp.MustCompile(`firmware: e100 \(0000:\S+\) asked for firmware e100/d102e_ucode\.bin, which this image does not have`).MatchString(st) {
					t.Errorf("the microcode e100 asked for in vain is not named:\n%s", st)
				}
			}
			if set.hotplugNC {
				hotplugNIC(t, vm, c)
			}
		})
	}
}

// A disk on a controller the initramfs has no driver for (AMD's PCscsi)
// does not hang the boot: stage 1 gives up once nothing new happens for
// its settle time, names the device no driver claimed, and reboots so the
// boot loader can try the other slot.
func TestUnknownControllerIsNamed(t *testing.T) {
	t.Parallel()
	cfg := direct(vmtest.FindBuild(t), "A")
	cfg.Hardware = qemu.Hardware{Disk: "am53c974"}
	cfg.NoReboot = true
	vm := vmtest.Start(t, cfg)
	// AMD's vendor ID 1022, the PCscsi's device ID 2020.
	vm.MustExpect(t, `boot failed: slot A: no partition labelled ROOT-A found \(have \[\]\); devices no driver in the initramfs claimed: .*pci 0000:\S+ \(pci:v00001022d00002020`, bootTimeout)
	vm.MustExpect(t, `rebooting`, 10*time.Second)
	expectRebootExit(t, vm)
}

// hotplugNIC adds an e1000e on a user network of its own with QMP, as an
// admin adds a NIC to a running VM: PID 1 loads its driver from the
// kernel's event, and sysd configures it like a NIC present at boot.
func hotplugNIC(t *testing.T, vm *vmtest.VM, c *ssh.Client) {
	q, err := vm.QMP()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Execute("netdev_add", map[string]any{"type": "user", "id": "net1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Execute("device_add", map[string]any{"driver": "e1000e", "netdev": "net1", "bus": "hp0", "id": "nic1", "romfile": ""}); err != nil {
		t.Fatal(err)
	}
	vm.MustExpect(t, `^berth: drivers: e1000e for pci \S+ \(hotplug\)$`, 2*time.Minute)
	vm.MustExpect(t, `^berth: network: eth1: DHCP lease 10\.0\.2\.15/24 from 10\.0\.2\.2`, 2*time.Minute)
	out := run(t, c, "sudo -n os-ctl net")
	if !regexp.MustCompile(`(?m)^eth1\s+up\s+dhcp\s.*10\.0\.2\.15/24 from 10\.0\.2\.2, bound`).MatchString(out) {
		t.Errorf("os-ctl net does not list the hot-plugged NIC with its lease:\n%s", out)
	}
	// Unplugged again: forgotten, and nothing more is said of it.
	if _, err := q.Execute("device_del", map[string]any{"id": "nic1"}); err != nil {
		t.Fatal(err)
	}
	removed, _ := vm.MustExpect(t, `^berth: network: eth1: removed$`, 2*time.Minute)
	time.Sleep(10 * time.Second)
	for _, l := range vm.Console.Lines() {
		if l.At.After(removed.At) && strings.Contains(l.Text, "eth1") {
			t.Errorf("after the unplug: %s", l.Text)
		}
	}
	if out := run(t, c, "sudo -n os-ctl net"); regexp.MustCompile(`(?m)^eth1\s`).MatchString(out) {
		t.Errorf("os-ctl net still lists the unplugged NIC:\n%s", out)
	}
}

// cloudLocalds makes a NoCloud ISO with Debian's cloud-localds.
func cloudLocalds(t *testing.T, dir, userData, metaData string) string {
	t.Helper()
	ud, md, iso := filepath.Join(dir, "user-data"), filepath.Join(dir, "meta-data"), filepath.Join(dir, "seed.iso")
	os.WriteFile(ud, []byte(userData), 0o644)
	os.WriteFile(md, []byte(metaData), 0o644)
	if out, err := exec.Command("cloud-localds", iso, ud, md).CombinedOutput(); err != nil {
		t.Fatalf("cloud-localds (Debian's cloud-image-utils): %v: %s", err, out)
	}
	return iso
}
