// Package qemu boots Berth images in QEMU for tests, benchmarks and
// `make run`: a copy-on-write overlay per VM, its own OVMF variables, TCG,
// an RNG, user networking with port forwards, a QMP monitor and the serial
// console captured and matched line by line.
package qemu

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// OVMF as Debian's ovmf package installs it.
const (
	OVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	OVMFVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// Forward maps a host TCP port on 127.0.0.1 to a guest port.
type Forward struct{ Host, Guest int }

// Config describes one VM.
type Config struct {
	Dir string // the VM's own directory: overlay, OVMF vars, sockets, console.log
	// Disk is the base raw image. The VM writes to Dir/disk.qcow2 on top
	// of it; an existing overlay is reused, so a second Start with the same
	// Dir boots the same machine again.
	Disk string
	// DiskFormat is Disk's format as qemu-img names it (default raw):
	// qcow2, vmdk, vpc for the images `make images` writes.
	DiskFormat string
	// Kernel, Initrd and Append boot directly, without firmware or boot
	// loader. Empty Kernel means: boot the disk through OVMF.
	Kernel, Initrd, Append string
	MemoryMB               int // default 512
	CPUs                   int // default 1
	Forwards               []Forward
	// NoReboot makes QEMU exit when the guest reboots.
	NoReboot bool
	// Interactive connects the serial console to this process's terminal
	// (QEMU reads the keyboard from it and sets it raw; Ctrl-A X quits,
	// Ctrl-C goes to the guest) and shows the guest's output there as it
	// comes, while still matching it line by line (Expect works).
	Interactive bool
	// DebugShell adds a second serial port (ttyS1) on Dir/debug.sock;
	// with berth.debug_shell on the command line the image runs a root
	// shell there (VM.Shell talks to it).
	DebugShell bool
	// NetDev replaces the user network's -netdev value (id must be net0);
	// Forwards are then not added.
	NetDev string
	// Hardware is the machine's disk controller and NIC; the zero value
	// is virtio for both.
	Hardware Hardware
	Extra    []string
}

// Hardware says which of QEMU's emulated devices the machine has: the
// controllers and NICs of the hypervisors and PCs Berth runs on.
type Hardware struct {
	// Disk is the boot disk's controller: "" or "virtio" (virtio-blk),
	// "ahci" (q35's SATA), "nvme", "pvscsi" (VMware), "lsi" (LSI
	// 53C895A), "virtio-scsi", "am53c974" (AMD's PCscsi, whose driver
	// the initramfs does not carry).
	Disk string
	// NIC is QEMU's device name: "" for virtio-net-pci; e1000e, e1000,
	// vmxnet3, rtl8139.
	NIC string
	// CDROM is an ISO (a cloud-localds seed) on the disk's controller,
	// or on q35's SATA controller when that one has no CD-ROMs (virtio,
	// NVMe); its QEMU device id is "seed" (QMP eject takes it out).
	CDROM string
	// HotplugPorts adds that many empty PCIe root ports (hp0, hp1, …)
	// for device_add.
	HotplugPorts int
	// Installer is an installer ISO on q35's SATA controller, after the
	// disk in the firmware's boot order: a blank disk falls through to
	// it, an installed one boots first, as on a PC with the disk first.
	Installer string
}

// args is the QEMU arguments for the disk (drive id disk0), the CD-ROM
// and the hot-plug ports.
func (h Hardware) args(overlay string) ([]string, error) {
	a := []string{"-drive", "if=none,id=disk0,format=qcow2,file=" + overlay}
	var cd []string
	if h.CDROM != "" {
		a = append(a, "-drive", "if=none,id=cd0,format=raw,media=cdrom,readonly=on,file="+h.CDROM)
		cd = []string{"-device", "ide-cd,bus=ide.1,drive=cd0,id=seed"}
	}
	boot := ""
	if h.Installer != "" {
		boot = ",bootindex=0"
		a = append(a, "-drive", "if=none,id=inst0,format=raw,media=cdrom,readonly=on,file="+h.Installer,
			"-device", "ide-cd,bus=ide.2,drive=inst0,id=installer,bootindex=1")
	}
	switch h.Disk {
	case "", "virtio":
		a = append(a, "-device", "virtio-blk-pci,drive=disk0"+boot)
	case "ahci":
		a = append(a, "-device", "ide-hd,bus=ide.0,drive=disk0"+boot)
	case "nvme":
		a = append(a, "-device", "nvme,drive=disk0,serial=berth0"+boot)
	case "pvscsi", "lsi", "virtio-scsi", "am53c974":
		hba := map[string]string{"pvscsi": "pvscsi", "lsi": "lsi53c895a", "virtio-scsi": "virtio-scsi-pci", "am53c974": "am53c974"}[h.Disk]
		a = append(a, "-device", hba+",id=hba", "-device", "scsi-hd,bus=hba.0,drive=disk0"+boot)
		if h.CDROM != "" {
			cd = []string{"-device", "scsi-cd,bus=hba.0,drive=cd0,id=seed"}
		}
	default:
		return nil, fmt.Errorf("hardware: unknown disk controller %q", h.Disk)
	}
	a = append(a, cd...)
	for i := 0; i < h.HotplugPorts; i++ {
		a = append(a, "-device", fmt.Sprintf("pcie-root-port,id=hp%d,chassis=%d", i, 10+i))
	}
	return a, nil
}

func (h Hardware) nic() string {
	if h.NIC == "" {
		return "virtio-net-pci"
	}
	return h.NIC
}

// VM is a running QEMU.
type VM struct {
	Console *Console
	cfg     Config
	args    []string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	started time.Time
	done    chan struct{}
	waitErr error
	qmpOnce sync.Mutex
	qmp     *QMP
	term    terminal // Interactive: the terminal the console shows on
}

// BlankDisk creates path as a sparse file of size bytes: a new, empty
// disk for a machine.
func BlankDisk(path string, size int64) error {
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		return err
	}
	return os.Truncate(path, size)
}

// Overlay is the VM's copy-on-write disk in dir.
func Overlay(dir string) string { return filepath.Join(dir, "disk.qcow2") }

// Start prepares the VM's files and starts QEMU.
func Start(cfg Config) (*VM, error) {
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 512
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	if err := Prepare(cfg); err != nil {
		return nil, err
	}
	args, err := cfg.args()
	if err != nil {
		return nil, err
	}
	v := &VM{cfg: cfg, args: args, done: make(chan struct{})}
	v.cmd = exec.Command(args[0], args[1:]...)
	logf, err := os.Create(filepath.Join(cfg.Dir, "qemu.log"))
	if err != nil {
		return nil, err
	}
	v.cmd.Stderr = logf
	var out io.Reader
	if cfg.Interactive {
		v.cmd.Stdin = os.Stdin
		qout, err := v.cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		out = v.term.tee(qout, os.Stdout)
	} else {
		if v.stdin, err = v.cmd.StdinPipe(); err != nil {
			return nil, err
		}
		if out, err = v.cmd.StdoutPipe(); err != nil {
			return nil, err
		}
	}
	conLog, err := os.Create(filepath.Join(cfg.Dir, "console.log"))
	if err != nil {
		return nil, err
	}
	v.Console = newConsole(conLog)
	v.started = time.Now()
	if err := v.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", v.CommandLine(), err)
	}
	var readDone chan struct{}
	if out != nil {
		readDone = make(chan struct{})
		go func() { v.Console.read(out); close(readDone) }()
	}
	go func() {
		if readDone != nil {
			<-readDone // all output is in before anyone hears of the exit
		}
		v.waitErr = v.cmd.Wait()
		logf.Close()
		conLog.Close()
		close(v.done)
	}()
	return v, nil
}

// Prepare creates the VM's directory, overlay and OVMF variables without
// starting it, so that a test can change the disk first.
func Prepare(cfg Config) error {
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return err
	}
	ov := Overlay(cfg.Dir)
	if _, err := os.Stat(ov); err != nil {
		disk, err := filepath.Abs(cfg.Disk)
		if err != nil {
			return err
		}
		if _, err := os.Stat(disk); err != nil {
			return fmt.Errorf("disk image: %w (run `make image`)", err)
		}
		format := cfg.DiskFormat
		if format == "" {
			format = "raw"
		}
		if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", format, "-b", disk, ov).CombinedOutput(); err != nil {
			return fmt.Errorf("qemu-img create overlay on %s: %w: %s", disk, err, out)
		}
	}
	if cfg.Kernel == "" {
		vars := filepath.Join(cfg.Dir, "OVMF_VARS.fd")
		if _, err := os.Stat(vars); err != nil {
			b, err := os.ReadFile(OVMFVars)
			if err != nil {
				return fmt.Errorf("OVMF variables: %w (install Debian's ovmf)", err)
			}
			if err := os.WriteFile(vars, b, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c Config) args() ([]string, error) {
	a := []string{"qemu-system-x86_64",
		"-nodefaults", "-display", "none",
		"-machine", "q35", "-accel", "tcg", "-cpu", "max",
		"-smp", fmt.Sprint(c.CPUs), "-m", fmt.Sprint(c.MemoryMB),
		// The kernel's RNG never becomes ready under TCG without help.
		"-device", "virtio-rng-pci",
		"-qmp", "unix:" + filepath.Join(c.Dir, "qmp.sock") + ",server=on,wait=off",
	}
	hw, err := c.Hardware.args(Overlay(c.Dir))
	if err != nil {
		return nil, err
	}
	a = append(a, hw...)
	if c.Interactive {
		// mon:stdio, but with Ctrl-C for the guest rather than QEMU.
		a = append(a, "-chardev", "stdio,id=con,mux=on,signal=off", "-serial", "chardev:con", "-mon", "chardev=con,mode=readline")
	} else {
		a = append(a, "-chardev", "stdio,id=con,signal=off", "-serial", "chardev:con")
	}
	if c.DebugShell {
		a = append(a, "-chardev", "socket,id=dbg,server=on,wait=off,path="+filepath.Join(c.Dir, "debug.sock"), "-serial", "chardev:dbg")
	}
	netdev := "user,id=net0"
	for _, f := range c.Forwards {
		netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", f.Host, f.Guest)
	}
	if c.NetDev != "" {
		netdev = c.NetDev
	}
	// romfile= keeps OVMF from trying to boot from the network.
	a = append(a, "-netdev", netdev, "-device", c.Hardware.nic()+",netdev=net0,romfile=")
	if c.Kernel != "" {
		a = append(a, "-kernel", c.Kernel, "-initrd", c.Initrd, "-append", c.Append)
	} else {
		a = append(a,
			"-drive", "if=pflash,format=raw,readonly=on,file="+OVMFCode,
			"-drive", "if=pflash,format=raw,file="+filepath.Join(c.Dir, "OVMF_VARS.fd"))
	}
	if c.NoReboot {
		a = append(a, "-no-reboot")
	}
	return append(a, c.Extra...), nil
}

// CommandLine is the QEMU command, ready to paste into a shell.
func (v *VM) CommandLine() string {
	q := make([]string, len(v.args))
	for i, s := range v.args {
		if strings.Contains(s, " ") {
			s = "'" + s + "'"
		}
		q[i] = s
	}
	return strings.Join(q, " ")
}

// Started is when the QEMU process was started.
func (v *VM) Started() time.Time { return v.started }

// Expect waits for a console line matching the regular expression.
func (v *VM) Expect(re string, timeout time.Duration) (Line, []string, error) {
	return v.Console.Expect(regexp.MustCompile(re), timeout)
}

// Type sends text to the serial console.
func (v *VM) Type(s string) error {
	if v.stdin == nil {
		return errors.New("interactive VM: the console is the terminal")
	}
	_, err := io.WriteString(v.stdin, s)
	return err
}

// QMP returns the monitor connection, connecting on first use.
func (v *VM) QMP() (*QMP, error) {
	v.qmpOnce.Lock()
	defer v.qmpOnce.Unlock()
	if v.qmp != nil {
		return v.qmp, nil
	}
	q, err := dialQMP(filepath.Join(v.cfg.Dir, "qmp.sock"), 10*time.Second)
	if err != nil {
		return nil, err
	}
	v.qmp = q
	return q, nil
}

// Powerdown presses the ACPI power button.
func (v *VM) Powerdown() error {
	q, err := v.QMP()
	if err != nil {
		return err
	}
	_, err = q.Execute("system_powerdown", nil)
	return err
}

// PressPowerButton presses the power button until PID 1 says it heard it.
// A press in the moment the guest's ACPI button driver is still setting
// up is lost (the kernel clears the pending event when it installs its
// handler), so, like a person, it presses again.
func (v *VM) PressPowerButton(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	heard := regexp.MustCompile(`poweroff requested by power button`)
	for {
		if err := v.Powerdown(); err != nil {
			return err
		}
		_, err := v.Console.Seen(heard, 3*time.Second)
		if err == nil || errors.Is(err, ErrClosed) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the guest did not react to the power button within %v", timeout)
		}
	}
}

// PowerOff presses the power button once PID 1 watches it, and waits for
// QEMU to exit.
func (v *VM) PowerOff(timeout time.Duration) error {
	if _, err := v.Console.Seen(watchingRE, 60*time.Second); err != nil {
		return err
	}
	if err := v.PressPowerButton(30 * time.Second); err != nil {
		return err
	}
	if err := v.Wait(timeout); err != nil {
		return fmt.Errorf("after the power button: %w", err)
	}
	return nil
}

// SendKeys presses the keys together (QEMU key names: "alt", "sysrq", "e").
func (v *VM) SendKeys(keys ...string) error {
	q, err := v.QMP()
	if err != nil {
		return err
	}
	var ks []map[string]string
	for _, k := range keys {
		ks = append(ks, map[string]string{"type": "qcode", "data": k})
	}
	_, err = q.Execute("send-key", map[string]any{"keys": ks})
	return err
}

// KeyboardType types s on the machine's keyboard, a key at a time, as
// a person at its screen would: lower-case letters, digits, space, "-",
// ".", "/", ";", "=" and newline (Enter).
func (v *VM) KeyboardType(s string) error {
	for _, r := range s {
		var k string
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			k = string(r)
		default:
			k = keyNames[r]
		}
		if k == "" {
			return fmt.Errorf("type %q: no key for %q", s, r)
		}
		if err := v.SendKeys(k); err != nil {
			return fmt.Errorf("type %q: %w", s, err)
		}
	}
	return nil
}

// keyNames are QEMU's key codes (qcodes) for the characters
// KeyboardType types that are not their own name.
var keyNames = map[rune]string{' ': "spc", '-': "minus", '.': "dot", '/': "slash", ';': "semicolon", '=': "equal", '\n': "ret"}

// Wait waits up to timeout for QEMU to exit.
func (v *VM) Wait(timeout time.Duration) error {
	select {
	case <-v.done:
		return v.waitErr
	case <-time.After(timeout):
		return fmt.Errorf("QEMU still running after %v", timeout)
	}
}

// Done is closed when QEMU has exited.
func (v *VM) Done() <-chan struct{} { return v.done }

// Kill ends QEMU at once: a power cut.
func (v *VM) Kill() {
	if v.qmp != nil {
		v.qmp.Close()
	}
	if v.cmd.Process != nil {
		v.cmd.Process.Kill()
	}
	<-v.done
}
