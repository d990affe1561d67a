package runvm

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"berth.dev/berth/qemu"
)

// Options are berth-vm's flags.
type Options struct {
	Build    string // the build directory of `make image`
	Direct   string // boot this slot with -kernel/-initrd instead of OVMF
	Port     int    // host port forwarded to the guest's SSH port
	MemoryMB int
	CPUs     int
	Keep     bool   // boot the previous run's machine again
	UserData string // the user's own user-data instead of the made one
	Home     string // where ~/.ssh is
}

func (o *Options) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.Build, "build", "build", "build directory of `make image`")
	fs.IntVar(&o.Port, "ssh", 2222, "host port forwarded to the guest's SSH port")
}

// Main runs `berth-vm [flags]` (boot) or `berth-vm ssh [flags] [command]`
// and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	home, _ := os.UserHomeDir()
	o := Options{Home: home}
	if len(args) > 0 && args[0] == "ssh" {
		fs := flag.NewFlagSet("berth-vm ssh", flag.ContinueOnError)
		fs.SetOutput(stderr)
		o.flags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		return SSH(o, fs.Args(), stderr)
	}
	fs := flag.NewFlagSet("berth-vm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.flags(fs)
	fs.StringVar(&o.Direct, "direct", "", "boot this slot (A or B) with -kernel/-initrd instead of OVMF and systemd-boot")
	fs.IntVar(&o.MemoryMB, "m", 1024, "memory in MiB")
	fs.IntVar(&o.CPUs, "smp", 2, "virtual CPUs")
	fs.BoolVar(&o.Keep, "keep", false, "boot the machine of the previous run again instead of a fresh one")
	fs.StringVar(&o.UserData, "user-data", "", "give the machine this user-data instead of the one with your SSH key")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := Boot(o, stdout); err != nil {
		fmt.Fprintln(stderr, "berth-vm:", err)
		return 1
	}
	return 0
}

// Plan is what a boot will do, decided before QEMU starts.
type Plan struct {
	Config qemu.Config
	Login  *Login   // nil: no SSH key; the debug shell instead
	Notes  []string // said before the boot
	Ready  []string // said once the machine is ready
}

// Prepare decides the VM, writes its user-data and the ssh configuration.
func Prepare(o Options) (Plan, error) {
	var p Plan
	build, err := filepath.Abs(o.Build)
	if err != nil {
		return p, err
	}
	dir := filepath.Join(build, "run")
	if !o.Keep {
		if err := os.RemoveAll(dir); err != nil {
			return p, fmt.Errorf("remove the previous run's machine: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return p, err
	}
	b := qemu.BuildAt(build)
	cfg := qemu.Config{Disk: b.Disk}
	if o.Direct != "" {
		cfg = b.Direct(o.Direct)
	}
	cfg.Dir, cfg.MemoryMB, cfg.CPUs, cfg.Interactive = dir, o.MemoryMB, o.CPUs, true
	cfg.Forwards = []qemu.Forward{{Host: o.Port, Guest: 22}}

	ud := o.UserData
	login, err := prepareLogin(o, build)
	switch {
	case ud != "":
		p.Notes = append(p.Notes, "user-data from "+ud+": log in as it says (port "+fmt.Sprint(o.Port)+")")
	case err != nil:
		// No way in over SSH: the root shell on the second serial port,
		// which needs the kernel command line (a direct boot).
		p.Notes = append(p.Notes, err.Error())
		if cfg.Kernel == "" {
			cfg = withKernel(b, cfg)
		}
		cfg.Append += " berth.debug_shell"
		cfg.DebugShell = true
		sock := filepath.Join(dir, "debug.sock")
		p.Notes = append(p.Notes, "log in on the debug shell instead, a root shell on the second serial port: "+debugShellCommand(sock))
		p.Ready = p.Notes[len(p.Notes)-1:]
	default:
		ud = filepath.Join(dir, "user-data")
		hostPriv, _, err := HostKey(login.Dir)
		if err != nil {
			return p, err
		}
		if err := os.WriteFile(ud, []byte(UserData(login.Key.Public, hostPriv)), 0o600); err != nil {
			return p, err
		}
		p.Login = login
		which := "your key " + login.Key.File
		if login.Key.Made {
			which = "the key made for it, " + login.Key.Identity
		}
		p.Notes = append(p.Notes, fmt.Sprintf("user %s logs in with %s", login.User, which))
		p.Ready = []string{"log in with: " + login.Command() + "   (or: make ssh)"}
	}
	if ud != "" {
		cfg.Extra = append(cfg.Extra, "-fw_cfg", "name=opt/berth/user-data,file="+ud)
	}
	p.Config = cfg
	return p, nil
}

// prepareLogin finds the keys and writes the ssh configuration.
func prepareLogin(o Options, build string) (*Login, error) {
	dir := filepath.Join(build, "ssh")
	key, err := FindKey(o.Home, dir)
	if err != nil {
		return nil, err
	}
	_, hostPub, err := HostKey(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoKey, err)
	}
	l := &Login{Dir: dir, Port: o.Port, User: "berth", Key: key, HostPublic: hostPub}
	if err := l.Write(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoKey, err)
	}
	return l, nil
}

func withKernel(b qemu.Build, cfg qemu.Config) qemu.Config {
	d := b.Direct("A")
	cfg.Kernel, cfg.Initrd, cfg.Append = d.Kernel, d.Initrd, d.Append
	return cfg
}

func debugShellCommand(sock string) string {
	if _, err := exec.LookPath("socat"); err == nil {
		return "socat -,raw,echo=0 UNIX-CONNECT:" + sock
	}
	return "nc -U " + sock
}

// readyRE is the console line after which the login works: the console
// service (sshd) is up. Without SSH, the debug shell's.
var readyRE = regexp.MustCompile(`^berth: service (console|debug-shell)\.service: up$`)

// Boot boots the machine on this terminal until QEMU exits.
func Boot(o Options, stdout io.Writer) error {
	p, err := Prepare(o)
	if err != nil {
		return err
	}
	vm, err := qemu.Start(p.Config)
	if err != nil {
		return err
	}
	notes := []string{"berth-vm: " + vm.CommandLine()}
	for _, n := range p.Notes {
		notes = append(notes, "berth-vm: "+n)
	}
	notes = append(notes, "berth-vm: Ctrl-A X quits, Ctrl-A C is QEMU's monitor")
	vm.Note(notes...)
	go func() {
		if _, _, err := vm.Console.Expect(readyRE, 24*time.Hour); err == nil {
			if p.Login != nil {
				// sshd up is not sshd answering: wait for its banner
				// through the forward, so the command works when printed.
				sshAnswers(p.Login.Port, 5*time.Minute)
			}
			var ready []string
			for _, r := range p.Ready {
				ready = append(ready, "berth-vm: ready: "+r)
			}
			vm.Note(ready...)
		}
	}()
	return vm.Wait(1 << 62)
}

// SSH logs in to the machine `make run` booted: it execs ssh.
func SSH(o Options, command []string, stderr io.Writer) int {
	build, err := filepath.Abs(o.Build)
	if err != nil {
		fmt.Fprintln(stderr, "berth-vm ssh:", err)
		return 1
	}
	login, err := prepareLogin(o, build)
	if err != nil {
		fmt.Fprintln(stderr, "berth-vm ssh:", err)
		return 1
	}
	path, err := exec.LookPath("ssh")
	if err != nil {
		fmt.Fprintln(stderr, "berth-vm ssh: no ssh on PATH: install openssh-client")
		return 1
	}
	err = syscall.Exec(path, login.Args(command...), os.Environ())
	fmt.Fprintln(stderr, "berth-vm ssh: exec ssh:", err)
	return 1
}

// sshAnswers waits until an SSH server's banner comes through the host
// port, or timeout.
func sshAnswers(port int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
		if err == nil {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			b := make([]byte, 4)
			n, _ := io.ReadFull(c, b)
			c.Close()
			if n == 4 && string(b) == "SSH-" {
				return true
			}
		}
		time.Sleep(time.Second)
	}
	return false
}
