package qemu

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"berth.dev/berth/update"
	"berth.dev/berth/update/publish"
)

// UpgradeSample is one measured `os-ctl upgrade`.
type UpgradeSample struct {
	Version    string
	Installed  time.Duration // os-ctl upgrade start → it says it reboots
	Ready      time.Duration // … → the new slot's ready line
	Good       time.Duration // … → its health gate passed
	Downloaded int64         // bytes fetched, as the attempt record says
	Reused     int64         // the release's bytes the machine had, as the record says
	Served     int64         // bytes the repository's server sent (bodies)
	Slot       int64         // the release's parts, whole
}

// MeasureUpgrade boots the build's disk through OVMF and systemd-boot,
// runs os-ctl upgrade over SSH against a repository on the host holding
// the release in relDir (published whole, without chunk indexes, when
// whole), and times it until the new slot is ready and has passed its
// health gate.
func MeasureUpgrade(b Build, dir, relDir string, whole bool) (UpgradeSample, error) {
	var s UpgradeSample
	rel, err := update.ReadRelease(filepath.Join(relDir, "release.json"))
	if err != nil {
		return s, err
	}
	s.Version = rel.Version
	for _, p := range rel.Parts {
		s.Slot += p.Size
	}
	repo := publish.Repo{Dir: filepath.Join(dir, "repo"), Keys: filepath.Join(b.Dir, "keys"), Whole: whole}
	if _, err := repo.Publish(relDir, "beta"); err != nil {
		return s, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s, err
	}
	var served atomic.Int64
	files := http.FileServer(http.Dir(repo.Dir))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		files.ServeHTTP(CountingWriter{w, &served}, r)
	})}
	go srv.Serve(l)
	defer srv.Close()

	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	key := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	sshL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s, err
	}
	sshPort := sshL.Addr().(*net.TCPAddr).Port
	sshL.Close()
	ud := filepath.Join(dir, "user-data")
	if err := os.WriteFile(ud, []byte(fmt.Sprintf("#cloud-config\nssh_authorized_keys: [%q]\nberth:\n  update: {server: \"http://10.0.2.2:%d/\", channel: beta, strategy: \"off\"}\n",
		key, l.Addr().(*net.TCPAddr).Port)), 0o644); err != nil {
		return s, err
	}
	vm, err := Start(Config{Disk: b.Disk, Dir: filepath.Join(dir, "vm"), Forwards: []Forward{{sshPort, 22}},
		Extra: []string{"-fw_cfg", "name=opt/berth/user-data,file=" + ud}})
	if err != nil {
		return s, err
	}
	defer vm.Kill()
	if _, _, err := vm.Console.Expect(readyRE, 5*time.Minute); err != nil {
		return s, fmt.Errorf("%w\n%s", err, vm.Console.Tail(30))
	}
	cfg := &ssh.ClientConfig{User: "berth", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second}
	dial := func() (*ssh.Client, error) {
		deadline := time.Now().Add(3 * time.Minute)
		for {
			c, err := ssh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", sshPort), cfg)
			if err == nil || time.Now().After(deadline) {
				return c, err
			}
			time.Sleep(time.Second)
		}
	}
	c, err := dial()
	if err != nil {
		return s, err
	}
	sess, err := c.NewSession()
	if err != nil {
		return s, err
	}
	// os-ctl's lines, each with its time since the start, go to
	// os-ctl.log: where an upgrade spends its time.
	log, err := os.Create(filepath.Join(dir, "os-ctl.log"))
	if err != nil {
		return s, err
	}
	defer log.Close()
	out, err := sess.StdoutPipe()
	if err != nil {
		return s, err
	}
	start := time.Now()
	if err := sess.Start("sudo os-ctl upgrade 2>&1"); err != nil {
		return s, err
	}
	var said strings.Builder
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		fmt.Fprintf(log, "%7.2fs %s\n", time.Since(start).Seconds(), lines.Text())
		said.WriteString(lines.Text() + "\n")
		if strings.Contains(lines.Text(), "rebooting") && s.Installed == 0 {
			s.Installed = time.Since(start)
		}
	}
	c.Close()
	if s.Installed == 0 {
		return s, fmt.Errorf("os-ctl upgrade:\n%s", said.String())
	}
	want := regexp.MustCompile(`^berth: ready version=` + regexp.QuoteMeta(rel.Version) + ` `)
	ready, _, err := vm.Console.Expect(want, 10*time.Minute)
	if err != nil {
		return s, fmt.Errorf("%w\n%s", err, vm.Console.Tail(30))
	}
	s.Ready = ready.At.Sub(start)
	good, _, err := vm.Console.Expect(regexp.MustCompile(`^berth: health gate passed `), 10*time.Minute)
	if err != nil {
		return s, fmt.Errorf("%w\n%s", err, vm.Console.Tail(30))
	}
	s.Good = good.At.Sub(start)
	if c, err = dial(); err != nil {
		return s, err
	}
	defer c.Close()
	sess, err = c.NewSession()
	if err != nil {
		return s, err
	}
	raw, err := sess.Output("cat /var/lib/berth/update/attempt.json")
	if err != nil {
		return s, fmt.Errorf("read the attempt record: %w", err)
	}
	var a update.Attempt
	if err := json.Unmarshal(raw, &a); err != nil {
		return s, err
	}
	s.Downloaded, s.Reused, s.Served = a.Downloaded, a.Reused, served.Load()
	return s, nil
}

// CountingWriter counts in N the body bytes an answer sends: what a
// repository's server sent, as the bench and the update tests measure it.
type CountingWriter struct {
	http.ResponseWriter
	N *atomic.Int64
}

func (c CountingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.N.Add(int64(n))
	return n, err
}
