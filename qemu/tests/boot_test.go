// Package tests boots the built image in QEMU and checks it as a user
// would: through the serial console, the power button and the disk.
package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/image"
	"berth.dev/berth/internal/layout"
	"berth.dev/berth/qemu"
	"berth.dev/berth/qemu/vmtest"
)

// Deadlines are generous: CI runs TCG on two busy cores.
const (
	bootTimeout = 180 * time.Second
	readyRE     = `^berth: ready version=(\S+) slot=([AB]) boot_ms=(\d+)$`
	bootRE      = `^berth: boot n=(\d+) machine-id=([0-9a-f]{32})$`
)

func direct(b qemu.Build, slot string) qemu.Config { return b.Direct(slot) }

func extent(label string) layout.Extent {
	ext, _ := layout.Plan(layout.Layout)
	return ext[label]
}

func expectReady(t *testing.T, vm *vmtest.VM, slot string) {
	t.Helper()
	_, m := vm.MustExpect(t, readyRE, bootTimeout)
	if m[2] != slot {
		t.Fatalf("ready line says slot %s, want %s", m[2], slot)
	}
}

func TestUEFIBootThroughSystemdBoot(t *testing.T) {
	t.Parallel()
	b := vmtest.FindBuild(t)
	vm := vmtest.Start(t, qemu.Config{Disk: b.Disk})
	// The entry the image builder wrote hands stage 1 the root hash.
	vm.MustExpect(t, `^berth: root: slot A from ROOT-A \(/dev/vda2\), verified by dm-verity \(root hash [0-9a-f]{64}\)$`, bootTimeout)
	// systemd-boot's own report, read from EFI variables: efivarfs was
	// mounted, its module loaded on demand through PID 1's modprobe.
	vm.MustExpect(t, `^berth: boot loader entry=berth-a\.conf$`, bootTimeout)
	expectReady(t, vm, "A")
}

// Slot B boots once it holds a root; the same kernel and initramfs are
// given directly. Unknown berth.* words and a module that does not exist
// are reported, and boot goes on.
func TestDirectBootSlotB(t *testing.T) {
	t.Parallel()
	b := vmtest.FindBuild(t)
	dir := t.TempDir()
	cfg := direct(b, "B")
	cfg.Dir = dir
	cfg.Append += " berth.bogus=1 berth.modules=nosuchmodule,dummy"
	if err := qemu.Prepare(cfg); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(b.Dir, "release", "root.img")
	st, err := os.Stat(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := qemu.WriteFileAt(qemu.Overlay(dir), root, extent(layout.LabelRootB).Offset(), st.Size()); err != nil {
		t.Fatal(err)
	}
	vm := vmtest.Start(t, cfg)
	vm.MustExpect(t, `unknown parameter "berth.bogus" ignored`, bootTimeout)
	vm.MustExpect(t, `root: slot B from ROOT-B`, bootTimeout)
	expectReady(t, vm, "B")
	// berth.modules load beside sysd: the failure may come before the
	// ready line or after it.
	if _, err := vm.Console.Seen(regexp.MustCompile(`load module nosuchmodule: .*nosuchmodule`), 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// A slot whose partition holds no root: a message naming the partition,
// then a reboot (QEMU exits with -no-reboot), never a hang.
func TestEmptySlotRebootsWithMessage(t *testing.T) {
	t.Parallel()
	b := vmtest.FindBuild(t)
	cfg := direct(b, "B")
	cfg.NoReboot = true
	vm := vmtest.Start(t, cfg)
	vm.MustExpect(t, `boot failed: slot B: partition ROOT-B \(/dev/vda3\) is missing or unreadable`, bootTimeout)
	vm.MustExpect(t, `rebooting`, 10*time.Second)
	expectRebootExit(t, vm)
}

// expectRebootExit waits for QEMU, run with -no-reboot, to exit because
// the guest rebooted.
func expectRebootExit(t *testing.T, vm *vmtest.VM) {
	t.Helper()
	if err := vm.Wait(60 * time.Second); err != nil {
		t.Fatalf("QEMU did not exit after the guest rebooted: %v", err)
	}
}

// The power button gives a clean poweroff within 15 s, and STATE is clean
// when the host checks it afterwards.
func TestPowerButtonCleanShutdown(t *testing.T) {
	t.Parallel()
	b := vmtest.FindBuild(t)
	cfg := direct(b, "A")
	cfg.Dir = t.TempDir()
	vm := vmtest.Start(t, cfg)
	expectReady(t, vm, "A")
	pressed := time.Now()
	vm.PowerOff(t, 15*time.Second)
	t.Logf("power button to QEMU exit: %v", time.Since(pressed).Round(time.Millisecond))
	vm.MustExpect(t, `poweroff requested by power button`, time.Second)
	vm.MustExpect(t, `file systems unmounted`, time.Second)
	fsckState(t, qemu.Overlay(cfg.Dir))
}

func fsckState(t *testing.T, overlay string) {
	t.Helper()
	fsckStateSized(t, overlay, extent(layout.LabelState).Size())
}

// fsckStateSized is fsckState for a STATE of size bytes (grown).
func fsckStateSized(t *testing.T, overlay string, size int64) {
	t.Helper()
	st := extent(layout.LabelState)
	raw := filepath.Join(t.TempDir(), "state.raw")
	if err := qemu.ExportRange(overlay, st.Offset(), size, raw); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("e2fsck", "-fn", raw).CombinedOutput()
	if err != nil {
		t.Fatalf("e2fsck -fn on STATE: %v\n%s", err, out)
	}
}

// Two boots of one machine: the boot counter on /var and the machine ID on
// the /etc overlay survive; after STATE is wiped, init recreates it and the
// machine starts afresh.
func TestStatePersistsAndIsRecreated(t *testing.T) {
	t.Parallel()
	b := vmtest.FindBuild(t)
	cfg := direct(b, "A")
	cfg.Dir = t.TempDir()

	boot := func(wantFormat bool) (n, id string) {
		t.Helper()
		vm := vmtest.Start(t, cfg)
		if wantFormat {
			vm.MustExpect(t, `STATE: /dev/vda4 has no file system: creating ext4`, bootTimeout)
		}
		_, m := vm.MustExpect(t, bootRE, bootTimeout)
		expectReady(t, vm, "A")
		for _, l := range vm.Console.Lines() {
			if !wantFormat && regexpMatch(`has no file system`, l.Text) {
				t.Fatalf("STATE was formatted again: %s", l.Text)
			}
		}
		vm.PowerOff(t, 60*time.Second)
		return m[1], m[2]
	}
	n1, id1 := boot(true)
	n2, id2 := boot(false)
	if n1 != "1" || n2 != "2" {
		t.Fatalf("boot counter on /var: first %s, second %s; want 1, 2", n1, n2)
	}
	if id1 != id2 {
		t.Fatalf("machine-id on /etc changed across boots: %s then %s", id1, id2)
	}
	st := extent(layout.LabelState)
	if err := qemu.ZeroRange(qemu.Overlay(cfg.Dir), st.Offset(), st.Size()); err != nil {
		t.Fatal(err)
	}
	n3, id3 := boot(true)
	if n3 != "1" || id3 == id1 {
		t.Fatalf("after wiping STATE: boot n=%s machine-id=%s; want n=1 and a new id (old %s)", n3, id3, id1)
	}
	fsckState(t, qemu.Overlay(cfg.Dir))
}

// Alt-SysRq-I on the console kills every process but PID 1; PID 1 starts
// sysd again and the machine comes back to ready. The kernel leaves the
// console log level at "debug" after SysRq-I; PID 1 puts the boot's level
// back, so that kernel messages do not break Berth's console lines.
func TestSysdKilledIsRestarted(t *testing.T) {
	t.Parallel()
	b := vmtest.FindBuild(t)
	vm, sh := bootShell(t, direct(b, "A"))
	level := strings.Fields(must(t, sh, "cat /proc/sys/kernel/printk"))[0]
	if level != "4" {
		t.Fatalf("console log level at boot: %s, want 4 (loglevel=4 on the kernel command line)", level)
	}
	sh.Close()
	if err := vm.SendKeys("alt", "sysrq", "i"); err != nil {
		t.Fatal(err)
	}
	vm.MustExpect(t, `^berth: console log level 4 restored$`, 30*time.Second)
	vm.MustExpect(t, `sysd: pid \d+ killed by signal killed`, 5*time.Second)
	vm.MustExpect(t, `sysd: restarting in`, 5*time.Second)
	vm.MustExpect(t, `^berth: sysd starting pid=\d+$`, 30*time.Second)
	expectReady(t, vm, "A")
	vm.MustExpect(t, `^berth: service debug-shell\.service: up$`, 60*time.Second)
	sh, err := vm.Shell()
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	if level := strings.Fields(must(t, sh, "cat /proc/sys/kernel/printk"))[0]; level != "4" {
		t.Fatalf("console log level after SysRq-I and the restart: %s, want 4", level)
	}
}

// Ctrl-Alt-Del reaches PID 1 as SIGINT and gives a clean reboot (QEMU,
// told -no-reboot, exits instead of starting again).
func TestCtrlAltDelReboots(t *testing.T) {
	t.Parallel()
	b := vmtest.FindBuild(t)
	cfg := direct(b, "A")
	cfg.NoReboot = true
	vm := vmtest.Start(t, cfg)
	expectReady(t, vm, "A")
	if err := vm.SendKeys("ctrl", "alt", "delete"); err != nil {
		t.Fatal(err)
	}
	vm.MustExpect(t, `reboot requested by SIGINT \(ctrl-alt-del\)`, 30*time.Second)
	vm.MustExpect(t, `file systems unmounted`, 30*time.Second)
	vm.MustExpect(t, `^berth: reboot$`, 10*time.Second)
	expectRebootExit(t, vm)
}

// A power cut (QEMU killed) leaves STATE mounted; the next boot checks and
// repairs it before use, and what was written before the cut is there.
func TestPowerCutStateIsChecked(t *testing.T) {
	t.Parallel()
	b := vmtest.FindBuild(t)
	cfg := direct(b, "A")
	cfg.Dir = t.TempDir()
	vm := vmtest.Start(t, cfg)
	_, first := vm.MustExpect(t, bootRE, bootTimeout)
	expectReady(t, vm, "A")
	vm.Kill()

	vm = vmtest.Start(t, cfg)
	vm.MustExpect(t, `STATE: /dev/vda4 was not unmounted cleanly: checking it`, bootTimeout)
	_, second := vm.MustExpect(t, bootRE, bootTimeout)
	expectReady(t, vm, "A")
	if second[1] != "2" || second[2] != first[2] {
		t.Fatalf("after the power cut: boot n=%s machine-id=%s; want n=2 and %s", second[1], second[2], first[2])
	}
	vm.PowerOff(t, time.Minute)
	fsckState(t, qemu.Overlay(cfg.Dir))
}

// The images for hypervisors (make images) boot through OVMF and
// systemd-boot to ready, each from its own format.
func TestPlatformImagesBoot(t *testing.T) {
	t.Parallel()
	b := vmtest.FindBuild(t)
	for _, f := range image.Formats {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(b.Dir, "images", "berth."+f.Name)
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("%v: make test builds the images (make images)", err)
			}
			vm := vmtest.Start(t, qemu.Config{Disk: path, DiskFormat: f.QemuFormat})
			vm.MustExpect(t, `^berth: root: slot A from ROOT-A \(/dev/vda2\), verified by dm-verity`, bootTimeout)
			expectReady(t, vm, "A")
		})
	}
	// The OVA's disk on the hardware its descriptor asks for: VMware's
	// paravirtual SCSI and vmxnet3. Debian's OVMF has no pvscsi driver
	// (VMware's EFI firmware has), so the kernel is given directly: the
	// ESP and systemd-boot are what the other formats boot through.
	t.Run("ova", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		vmdk, err := image.OVADisk(filepath.Join(b.Dir, "images", "berth.ova"), dir)
		if err != nil {
			t.Fatalf("%v: make test builds the images (make images)", err)
		}
		cfg := direct(b, "A")
		cfg.Dir, cfg.Disk, cfg.DiskFormat = dir, vmdk, "vmdk"
		cfg.Hardware = qemu.Hardware{Disk: "pvscsi", NIC: "vmxnet3"}
		vm := vmtest.Start(t, cfg)
		vm.MustExpect(t, `^berth: root: slot A from ROOT-A \(/dev/sda2\), verified by dm-verity`, bootTimeout)
		expectReady(t, vm, "A")
		vm.MustExpect(t, `^berth: network: eth0: DHCP lease 10\.0\.2\.15/24`, 2*time.Minute)
	})
}
