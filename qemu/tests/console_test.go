package tests

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"berth.dev/berth/qemu"
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
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
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
		t.Fatalf("ssh %q: %v\n%s", cmd, err, out)
	}
	return string(out)
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
	signer, key := sshKey(t)
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
	b := qemu.FindBuild(t)
	cfg := direct(b, "A")
	cfg.Dir = dir
	cfg.Forwards = []qemu.Forward{{Host: port, Guest: 22}}
	cfg.Extra = []string{"-fw_cfg", "name=opt/berth/user-data,file=" + ud}
	vm := qemu.StartT(t, cfg)
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

	rootCfg := *keyCfg
	rootCfg.User = "root"
	if c, err := ssh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &rootCfg); err == nil {
		c.Close()
		t.Error("root logged in with a key in /root/.ssh/authorized_keys")
	}
}
