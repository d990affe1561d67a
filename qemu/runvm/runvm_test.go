package runvm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"
)

func TestFindKeyPrefersTheUsersOwn(t *testing.T) {
	home, build := t.TempDir(), t.TempDir()
	// No key of the user's: a pair is made once under build/ssh.
	made, err := FindKey(home, filepath.Join(build, "ssh"))
	if err != nil || !made.Made || made.Identity != filepath.Join(build, "ssh", "id_ed25519") {
		t.Fatalf("made: %+v, %v", made, err)
	}
	if st, err := os.Stat(made.Identity); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v, %v", st, err)
	}
	raw, _ := os.ReadFile(made.Identity)
	signer, err := ssh.ParsePrivateKey(raw)
	if err != nil {
		t.Fatalf("the private key does not parse as OpenSSH's: %v", err)
	}
	if !strings.HasPrefix(made.Public, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))) {
		t.Fatalf("public %q does not belong to the private key", made.Public)
	}
	again, err := FindKey(home, filepath.Join(build, "ssh"))
	if err != nil || again.Public != made.Public {
		t.Fatalf("second call made another key: %+v, %v", again, err)
	}
	// The user's id_rsa.pub, then id_ed25519.pub, win over the made one.
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	rsa := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMv0BEcTnBWvZ7V6V3x9tM2j8F0dxP6rsmBbDL2Q4s4S rsa-file@host"
	os.WriteFile(filepath.Join(home, ".ssh", "id_rsa.pub"), []byte(rsa+"\n"), 0o644)
	if k, err := FindKey(home, filepath.Join(build, "ssh")); err != nil || k.Public != rsa || k.Made || k.Identity != "" {
		t.Fatalf("with id_rsa.pub: %+v, %v", k, err)
	}
	ed := strings.Replace(rsa, "rsa-file", "ed-file", 1)
	os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519.pub"), []byte(ed+"\n"), 0o644)
	if k, _ := FindKey(home, filepath.Join(build, "ssh")); k.Public != ed {
		t.Fatalf("with id_ed25519.pub too: %+v", k)
	}
	// A file that is no key is passed over.
	os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519.pub"), []byte("not a key\n"), 0o644)
	if k, _ := FindKey(home, filepath.Join(build, "ssh")); k.Public != rsa {
		t.Fatalf("a broken id_ed25519.pub: %+v", k)
	}
}

func TestNoKeyBootsWithTheDebugShell(t *testing.T) {
	build := t.TempDir()
	// build/ssh cannot be made: a file is in its place.
	os.WriteFile(filepath.Join(build, "ssh"), nil, 0o644)
	if _, err := FindKey(t.TempDir(), filepath.Join(build, "ssh")); !errors.Is(err, ErrNoKey) {
		t.Fatalf("FindKey: %v, want ErrNoKey", err)
	}
	p, err := Prepare(Options{Build: build, Port: 2222, Home: t.TempDir(), MemoryMB: 512, CPUs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if p.Login != nil || !p.Config.DebugShell || !strings.Contains(p.Config.Append, "berth.debug_shell") || p.Config.Kernel == "" {
		t.Fatalf("no key: %+v", p)
	}
	if len(p.Ready) != 1 || !strings.Contains(p.Ready[0], "debug shell") || !strings.Contains(p.Ready[0], filepath.Join(build, "run", "debug.sock")) {
		t.Fatalf("what it says when ready: %q", p.Ready)
	}
}

func TestPrepareGivesKeyAndHostKey(t *testing.T) {
	build, home := t.TempDir(), t.TempDir()
	p, err := Prepare(Options{Build: build, Port: 2345, Home: home, MemoryMB: 512, CPUs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if p.Login == nil || p.Config.DebugShell || p.Config.Kernel != "" {
		t.Fatalf("plan: %+v", p)
	}
	want := "ssh -F " + filepath.Join(build, "ssh", "config") + " berth-vm"
	if p.Login.Command() != want || !strings.Contains(p.Ready[0], want) {
		t.Fatalf("command %q, ready %q; want %q", p.Login.Command(), p.Ready, want)
	}
	cfg, _ := os.ReadFile(p.Login.Config())
	for _, w := range []string{"Port 2345", "User berth", "HostKeyAlias berth-vm", "StrictHostKeyChecking yes", "IdentityFile " + filepath.Join(build, "ssh", "id_ed25519")} {
		if !strings.Contains(string(cfg), w) {
			t.Errorf("ssh config lacks %q:\n%s", w, cfg)
		}
	}
	// The user-data: valid YAML with the key, and the host key whose
	// public half is in known_hosts.
	ud, _ := os.ReadFile(filepath.Join(build, "run", "user-data"))
	var doc struct {
		Keys  []string                                      `yaml:"ssh_authorized_keys"`
		Files []struct{ Path, Permissions, Content string } `yaml:"write_files"`
	}
	if err := yaml.Unmarshal(ud, &doc); err != nil || !strings.HasPrefix(string(ud), "#cloud-config\n") {
		t.Fatalf("user-data: %v\n%s", err, ud)
	}
	if len(doc.Keys) != 1 || doc.Keys[0] != p.Login.Key.Public || len(doc.Files) != 1 || doc.Files[0].Path != "/etc/ssh/ssh_host_ed25519_key" {
		t.Fatalf("user-data: %+v", doc)
	}
	host, err := ssh.ParsePrivateKey([]byte(doc.Files[0].Content))
	if err != nil {
		t.Fatalf("host key in user-data: %v", err)
	}
	known, _ := os.ReadFile(filepath.Join(build, "ssh", "known_hosts"))
	if got, want := strings.TrimSpace(string(known)), "berth-vm "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(host.PublicKey()))); got != want {
		t.Fatalf("known_hosts %q, want %q", got, want)
	}
	if !strings.Contains(strings.Join(p.Config.Extra, " "), "name=opt/berth/user-data,file="+filepath.Join(build, "run", "user-data")) {
		t.Fatalf("fw_cfg: %q", p.Config.Extra)
	}
}
