package tests

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
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

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// dialSSH retries until the console's sshd answers.
func dialSSH(t *testing.T, port int, cfg *ssh.ClientConfig, timeout time.Duration) (*ssh.Client, error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := ssh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), cfg)
		if err == nil || time.Now().After(deadline) || strings.Contains(err.Error(), "unable to authenticate") {
			return c, err
		}
		time.Sleep(2 * time.Second)
	}
}

// sshKey returns a new key pair: the signer and its authorized_keys line.
func sshKey(t *testing.T) (ssh.Signer, string) {
	signer, line, _ := sshKeyPair(t)
	return signer, line
}

// sshKeyPair is sshKey with the private key in OpenSSH's file format too,
// for the host's ssh and scp.
func sshKeyPair(t *testing.T) (ssh.Signer, string, []byte) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return signer, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))), pem.EncodeToMemory(block)
}

// runInput runs cmd over SSH with stdin from in.
func runInput(t *testing.T, c *ssh.Client, cmd string, in io.Reader) string {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Stdin = in
	out, err := s.CombinedOutput(cmd)
	if err != nil {
		t.Fatalf("ssh %q: %v\n%s%s", cmd, err, out, diagnose(c, cmd))
	}
	return string(out)
}

// diagnose gathers, after cmd failed, what the failure's cause may have
// left in the machine's logs: the kernel's (an OOM kill, a segfault, an
// I/O error), and Docker's when cmd used it (containerd's and runc's
// messages). Best effort: a user without sudo gets nothing more.
func diagnose(c *ssh.Client, cmd string) string {
	logs := "sudo -n os-ctl logs kernel -n 40"
	if strings.Contains(cmd, "docker") {
		logs += "; echo; sudo -n os-ctl logs docker -n 40"
	}
	// A swarm service that does not converge: where each task is and
	// why, and the nodes the scheduler could choose from.
	if strings.Contains(cmd, "docker service") {
		logs += "; echo; docker node ls; echo; docker service ps --no-trunc $(docker service ls -q)"
	}
	s, err := c.NewSession()
	if err != nil {
		return ""
	}
	defer s.Close()
	// The failure is known already: a machine whose Docker or SSH hangs
	// must not hold its message back until go test's own timeout.
	done := make(chan []byte, 1)
	go func() {
		out, _ := s.CombinedOutput(logs)
		done <- out
	}()
	select {
	case out := <-done:
		return fmt.Sprintf("\n%s:\n%s", logs, out)
	case <-time.After(time.Minute):
		return fmt.Sprintf("\n%s: no answer within a minute", logs)
	}
}

// run runs cmd over SSH and fails the test unless it succeeds.
func run(t *testing.T, c *ssh.Client, cmd string) string {
	t.Helper()
	return runInput(t, c, cmd, nil)
}

// SSH into the console with a key from user-data; passwords and root are
// refused; the admin has sudo, os-ctl and the host's view.
func TestConsoleSSH(t *testing.T) {
	t.Parallel()
	signer, key, keyPEM := sshKeyPair(t)
	dir := t.TempDir()
	ud := filepath.Join(dir, "user-data")
	// alice has a password (openssl passwd -6 serial-secret): good for
	// the serial console, never for SSH.
	os.WriteFile(ud, []byte(fmt.Sprintf(`#cloud-config
ssh_authorized_keys:
  - %s
users:
  - default
  - name: alice
    lock_passwd: false
    passwd: $6$berthsalt$T7FSe.R4lsSmpLshAhe9OPQOlbvPvFWYyo5sUZQQIqJSoNnx2P39.8WSodTzuNsW2bKqg8tKaBMqujD3IMXqH0
write_files:
  - path: /root/.ssh/authorized_keys
    content: "%s\n"
    permissions: '0600'
`, key, key)), 0o644)
	port := freePort(t)
	b := vmtest.FindBuild(t)
	cfg := direct(b, "A")
	cfg.Dir = dir
	cfg.Forwards = []qemu.Forward{{Host: port, Guest: 22}}
	// A screen and a keyboard, as a PC or a hypervisor's console window
	// has: QEMU's standard VGA and the i8042 every q35 machine has.
	cfg.Extra = []string{"-fw_cfg", "name=opt/berth/user-data,file=" + ud, "-device", "VGA"}
	vm := vmtest.Start(t, cfg)
	expectReady(t, vm, "A")
	vm.MustExpect(t, `^berth: service console\.service: up$`, 2*time.Minute)

	keyCfg := &ssh.ClientConfig{User: "berth", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second}
	c, err := dialSSH(t, port, keyCfg, 2*time.Minute)
	if err != nil {
		t.Fatalf("ssh berth@ with the user-data key: %v", err)
	}
	defer c.Close()
	if out := run(t, c, "id -un; id -u; sudo -n id -un; sudo -n os-ctl service ls"); !strings.HasPrefix(out, "berth\n1000\nroot\n") || !strings.Contains(out, "console") {
		t.Errorf("in the console:\n%s", out)
	}
	t.Run("admin tools", func(t *testing.T) {
		if _, err := vm.Console.Seen(regexp.MustCompile(`^berth: service docker\.service: up$`), 3*time.Minute); err != nil {
			t.Fatal(err)
		}
		adminTools(t, c)
	})
	t.Run("scp", func(t *testing.T) { scpTo(t, c, port, keyPEM) })

	pwCfg := &ssh.ClientConfig{User: "alice", Auth: []ssh.AuthMethod{ssh.Password("serial-secret")},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second}
	if c, err := ssh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), pwCfg); err == nil {
		c.Close()
		t.Error("password authentication was accepted")
	}
	// The serial console: a wrong password is refused, the right one
	// gives alice a shell.
	if _, err := vm.Console.Seen(regexp.MustCompile(`berth: service serial-login\.service: up$`), time.Minute); err != nil {
		t.Fatal(err)
	}
	serialLogin := func(password string) {
		time.Sleep(3 * time.Second) // agetty's prompt
		vm.Type("alice\n")
		time.Sleep(3 * time.Second)
		vm.Type(password + "\n")
	}
	serialLogin("wrong")
	vm.MustExpect(t, `Login incorrect`, time.Minute)
	serialLogin("serial-secret")
	time.Sleep(3 * time.Second)
	vm.Type("echo serial-$(id -un)-$((6*7))\n")
	vm.MustExpect(t, `^serial-alice-42\r?$`, time.Minute)
	vm.Type("exit\n")

	t.Run("screen", func(t *testing.T) { screenLogin(t, vm, c) })

	rootCfg := *keyCfg
	rootCfg.User = "root"
	if c, err := ssh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &rootCfg); err == nil {
		c.Close()
		t.Error("root logged in with a key in /root/.ssh/authorized_keys")
	}
}

// screenLogin is the machine met at its screen: the kernel's and Berth's
// lines show there, and alice logs in on tty1 with the keyboard. The
// screen is read as the kernel keeps it, /dev/vcs1 (its text, row after
// row), whatever draws it (VGA text mode or a frame buffer).
func screenLogin(t *testing.T, vm *vmtest.VM, c *ssh.Client) {
	if _, err := vm.Console.Seen(regexp.MustCompile(`berth: service screen-login\.service: up$`), time.Minute); err != nil {
		t.Fatal(err)
	}
	screen := func(what string, re *regexp.Regexp) {
		t.Helper()
		var out string
		for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(2 * time.Second) {
			if out = run(t, c, "sudo -n cat /dev/vcs1"); re.MatchString(out) {
				return
			}
		}
		t.Fatalf("the screen does not show %s (%s); it shows (cut at 80 columns):\n%s", what, re, strings.Join(rows(out, 80), "\n"))
	}
	screen("agetty's prompt", regexp.MustCompile(`login: `))
	// /etc/issue: what the machine is, and where to SSH to.
	screen("the issue", regexp.MustCompile(`Berth [0-9.]+ on berth-[0-9a-f]+ \(tty1\) +IPv4: 10\.0\.2\.15`))
	// Berth's lines: sysd's, mirrored from /dev/console (the serial port).
	screen("Berth's lines", regexp.MustCompile(`berth: service [a-z-]+\.service: up`))
	// The kernel's (console=tty0): a message at a level loglevel=4 shows.
	run(t, c, `echo "<2>berth-test: to every console" | sudo -n tee /dev/kmsg >/dev/null`)
	screen("the kernel's message", regexp.MustCompile(`berth-test: to every console`))
	vm.MustExpect(t, `berth-test: to every console`, time.Minute)

	// Each answer waits for its question: login empties what was typed
	// ahead of its password prompt.
	for _, step := range []struct{ keys, then string }{
		{"\n", `login: `},
		{"alice\n", `Password: `},
		{"serial-secret\n", `alice@[^ ]*\$ `},
		{"tty; id -un\n", `/dev/tty1 *alice`},
		{"exit\n", ``},
	} {
		if err := vm.KeyboardType(step.keys); err != nil {
			t.Fatal(err)
		}
		if step.then != "" {
			screen(fmt.Sprintf("the answer to %q", step.keys), regexp.MustCompile(step.then))
		}
	}
}

// rows cuts a screen's text into rows of at most n characters, for a
// failure's message.
func rows(s string, n int) []string {
	var r []string
	for ; len(s) > n; s = s[n:] {
		r = append(r, strings.TrimRight(s[:n], " "))
	}
	return append(r, strings.TrimRight(s, " "))
}

// The tools an admin types, each on PATH (a login shell's, and a command's
// over ssh) and doing its job.
var adminCommands = []string{"hostname", "grep", "sed", "gawk", "awk", "find", "xargs", "gzip", "xz", "tar", "diff",
	"mount", "umount", "lsblk", "findmnt", "which", "ping", "dig", "nslookup", "nc", "ps", "pgrep", "top", "free",
	"killall", "pstree", "fuser", "less", "jq", "tcpdump", "strace", "htop", "rsync", "tmux", "file", "ip", "ss",
	"lsof", "lspci", "ethtool", "nft", "fdisk", "dmidecode", "curl", "nano", "vi", "sudo", "os-ctl", "docker"}

func adminTools(t *testing.T, c *ssh.Client) {
	list := strings.Join(adminCommands, " ")
	for _, shell := range []string{"bash -lc", "bash -c"} {
		out := run(t, c, shell+" 'for c in "+list+"; do command -v $c >/dev/null || echo missing: $c; done; echo checked'")
		if out != "checked\n" {
			t.Errorf("%s: commands not on PATH:\n%s", shell, out)
		}
	}
	checks := []struct{ cmd, want string }{
		{"hostname", `^berth-[0-9a-f]{8}\n$`},
		{"ps aux | grep dockerd", `(?m)^root +\d+ .*/dockerd`},
		{"echo a,b,c | awk -F, '{print $2}' | sed s/b/B/", `^B\n$`},
		{"printf '1\\n2\\n' | xargs echo | grep -c '1 2'", `^1\n$`},
		{"echo zip | gzip | gzip -d; echo xz | xz | xz -d; tar -C /etc -cf - hostname | tar -tf -", `^zip\nxz\nhostname\n$`},
		{"diff <(echo a) <(echo b) | head -1", `^1c1\n$`},
		{"mount | grep -c ' on /var type ext4'; lsblk -no NAME | grep -c '^vda$'", `^[1-9]\d*\n1\n$`},
		{"which bash", `^/(usr/)?bin/bash\n$`},
		{"echo '{\"a\":[1,2]}' | jq -c .a", `^\[1,2\]\n$`},
		{"file -b /bin/bash | cut -d, -f1", `^ELF 64-bit LSB pie executable\n$`},
		{"tmux -V; htop --version | head -1; rsync --version | head -1", `^tmux \d.*\nhtop \d.*\nrsync  version \d`},
		{"strace -f -e trace=execve true 2>&1 | grep -c execve", `^[1-9]\n$`},
		// As berth, not root: ICMP sockets for everyone.
		{"ping -c1 -W10 10.0.2.2 | grep -c '1 received'", `^1\n$`},
		{"dig +time=5 +tries=2 @$(awk '/^nameserver/{print $2; exit}' /etc/resolv.conf) debian.org | grep -o 'SERVER: [0-9.]*#53'", `^SERVER: 10\.0\.2\.3#53\n$`},
		{"echo hello | nc -q1 -l 127.0.0.1 7777 & sleep 1; nc -d 127.0.0.1 7777; wait", `^hello\n$`},
		// tcpdump's summary is written when it exits, so the loop pings
		// until it is there; the pings' own output is shown on failure.
		{"sudo -n timeout 120 tcpdump -c1 -ni eth0 icmp >/tmp/td 2>&1 & for i in $(seq 100); do grep -q captured /tmp/td && break; ping -c1 -W1 10.0.2.2 >>/tmp/pings 2>&1; sleep 1; done; wait; cat /tmp/td; grep -q '^1 packet captured' /tmp/td || tail -5 /tmp/pings", `(?m)^1 packet captured$`},
		// UTF-8 for everyone, tmux included.
		{"locale | grep LC_CTYPE; tmux new-session -d -s t 'sleep 30' && tmux ls | cut -d: -f1", `^LC_CTYPE="C\.UTF-8"\nt\n$`},
		// bash completes docker with the engine's own completion
		// (_comp_load is bash-completion 2.12's loader).
		{"bash -lic '_comp_load docker; complete -p docker' 2>/dev/null", `complete -F _docker docker\n$`},
	}
	for _, ck := range checks {
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.CombinedOutput("bash -lc " + shellQuote(ck.cmd))
		s.Close()
		if err != nil || !regexp.MustCompile(ck.want).Match(out) {
			t.Errorf("%s: %v\n%s\nwant /%s/", ck.cmd, err, out, ck.want)
		}
	}
}

// scpTo copies a file to the machine with the host's own scp.
func scpTo(t *testing.T, c *ssh.Client, port int, keyPEM []byte) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	payload := filepath.Join(dir, "payload.txt")
	os.WriteFile(payload, []byte("sent by scp\n"), 0o644)
	out, err := exec.Command("scp", "-i", key, "-P", fmt.Sprint(port), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", payload, "berth@127.0.0.1:payload.txt").CombinedOutput()
	if err != nil {
		t.Fatalf("scp: %v\n%s", err, out)
	}
	if got := run(t, c, "cat ~/payload.txt"); got != "sent by scp\n" {
		t.Fatalf("after scp, ~/payload.txt holds %q", got)
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
