package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"berth.dev/berth/image"
	"berth.dev/berth/internal/copyfile"
	"berth.dev/berth/qemu"
	"berth.dev/berth/qemu/vmtest"
	"berth.dev/berth/update"
	"berth.dev/berth/update/chunk"
	publisher "berth.dev/berth/update/publish"
)

// The releases the update tests install: the image's own (v1), and what
// make test-releases built beside it (v2 differs by its version; v3 fails
// its health gate; v5 adds one Debian package to the console image).
type releases struct{ v1, v2, v3, v5 release }

type release struct{ dir, version string }

func testReleases(t *testing.T, b qemu.Build) releases {
	t.Helper()
	rel := func(dir string) release {
		r, err := update.ReadRelease(filepath.Join(dir, "release.json"))
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%v: make test builds the test releases (make test-releases)", err)
			}
			t.Skipf("%v: run make test-releases", err)
		}
		return release{dir, r.Version}
	}
	return releases{
		v1: rel(filepath.Join(b.Dir, "release")),
		v2: rel(filepath.Join(b.Dir, "test-releases", "0.2.0", "release")),
		v3: rel(filepath.Join(b.Dir, "test-releases", "0.3.0", "release")),
		v5: rel(filepath.Join(b.Dir, "test-releases", "0.5.0", "release")),
	}
}

// repoServer serves a release repository to the guest (10.0.2.2 is the
// host); which repository it serves can change under the guest's feet.
type repoServer struct {
	port int
	dir  atomic.Value // string
	// sent counts the bytes of every answer's body, chunks those from
	// the chunk store.
	sent, chunks atomic.Int64
}

func serveRepo(t *testing.T, dir string) *repoServer {
	s := &repoServer{}
	s.dir.Store(dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var cw http.ResponseWriter = qemu.CountingWriter{ResponseWriter: w, N: &s.sent}
		if strings.HasPrefix(r.URL.Path, "/"+update.ChunkDir+"/") {
			cw = qemu.CountingWriter{ResponseWriter: cw, N: &s.chunks}
		}
		http.FileServer(http.Dir(s.dir.Load().(string))).ServeHTTP(cw, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

// slotBytes is a release's parts, whole: what a full update fetches.
func slotBytes(t *testing.T, rel release) int64 {
	t.Helper()
	r, err := update.ReadRelease(filepath.Join(rel.dir, "release.json"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, p := range r.Parts {
		n += p.Size
	}
	return n
}

// newChunks lists the chunks of to's parts that from's parts lack, as a
// machine running from finds them, and their stored bytes: what a delta
// update from → to fetches.
func newChunks(t *testing.T, repo string, from, to release) ([]string, int64) {
	t.Helper()
	have := map[string]bool{}
	for _, p := range update.PartNames {
		for _, c := range readIndex(t, repo, from.version, p).Chunks {
			have[c.SHA256] = true
		}
	}
	var sums []string
	var n int64
	for _, p := range update.PartNames {
		for _, c := range readIndex(t, repo, to.version, p).Chunks {
			if !have[c.SHA256] {
				have[c.SHA256] = true
				sums, n = append(sums, c.SHA256), n+c.Stored
			}
		}
	}
	return sums, n
}

func readIndex(t *testing.T, repo, version, part string) *chunk.Index {
	t.Helper()
	name := filepath.Join(repo, "targets", "releases", version, update.IndexName(part))
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := chunk.Parse(name, b)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

// publish makes a repository signed with the build's keys (the image
// trusts them) holding rels on their channels, each part with its chunk
// index.
func publish(t *testing.T, b qemu.Build, now time.Time, rels map[string]release) publisher.Repo {
	t.Helper()
	return publishRepo(t, b, now, false, rels)
}

// publishRepo is publish; whole leaves the chunk indexes out, as a
// repository from before them is, and machines download parts whole.
func publishRepo(t *testing.T, b qemu.Build, now time.Time, whole bool, rels map[string]release) publisher.Repo {
	t.Helper()
	r := publisher.Repo{Dir: filepath.Join(t.TempDir(), "repo"), Keys: filepath.Join(b.Dir, "keys"), Now: func() time.Time { return now }, Whole: whole}
	for ch, rel := range rels {
		if _, err := r.Publish(rel.dir, ch); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// unbootable is a signed release whose root does not match its root
// hash, as a bad build or a failing disk would leave it: the head of
// from's root image with a hash tree of its own, then 2 KiB of the first
// block changed after the superblock. The updater installs it (its bytes
// are what was signed); stage 1 reads that block through dm-verity, gets
// an I/O error and reboots, and only systemd-boot's try counter brings
// the machine back.
func unbootable(t *testing.T, from release, version string) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{"vmlinuz", "initrd.img"} {
		if err := copyfile.Copy(filepath.Join(from.dir, p), filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	head := make([]byte, 4<<20)
	f, err := os.Open(filepath.Join(from.dir, "root.img"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadFull(f, head)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root.img")
	if err := os.WriteFile(root, head, 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := image.AppendVerity(root)
	if err != nil {
		t.Fatal(err)
	}
	rf, err := os.OpenFile(root, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rf.WriteAt(bytes.Repeat([]byte{0xa5}, 2048), 2048); err != nil {
		t.Fatal(err)
	}
	rf.Close()
	r, err := image.Describe(dir, version, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	r.Verity = &v
	if err := r.WriteJSON(filepath.Join(dir, "release.json")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// updateVM boots the disk through OVMF and systemd-boot (the boot loader
// is under test), with user-data naming the repository.
func updateVM(t *testing.T, dir string, port, sshPort int, key string, strategy ...string) *vmtest.VM {
	t.Helper()
	return updateVMWith(t, dir, sshPort, key, updateOpts{port: port, strategy: strategy})
}

// repoHost names the update repository where only the test's HTTP proxy
// resolves it.
const repoHost = "updates.berth.test"

// updateOpts is what updateVMWith puts in the machine's user-data beside
// its SSH key and QEMU arguments.
type updateOpts struct {
	port     int      // the repository's port on the host (10.0.2.2)
	server   string   // the repository's URL instead, when not port's
	strategy []string // berth.update keys, one "key: value" each
	berth    string   // more berth: keys, indented by two spaces
	top      string   // more top-level user-data
	extra    []string // more QEMU arguments
}

func updateVMWith(t *testing.T, dir string, sshPort int, key string, o updateOpts) *vmtest.VM {
	t.Helper()
	b := vmtest.FindBuild(t)
	ud := filepath.Join(dir, "user-data")
	if o.strategy == nil {
		o.strategy = []string{"strategy: off"}
	}
	if o.server == "" {
		o.server = fmt.Sprintf("http://10.0.2.2:%d/", o.port)
	}
	os.WriteFile(ud, []byte(fmt.Sprintf(`#cloud-config
ssh_authorized_keys:
  - %s
berth:
  update:
    server: %s
    channel: beta
    health_timeout: 240s
    %s
%s%s`, key, o.server, strings.Join(o.strategy, "\n    "), o.berth, o.top)), 0o644)
	return vmtest.Start(t, qemu.Config{Disk: b.Disk, Dir: dir,
		Forwards: []qemu.Forward{{Host: sshPort, Guest: 22}},
		Extra:    append([]string{"-fw_cfg", "name=opt/berth/user-data,file=" + ud}, o.extra...)})
}

// expectBoot waits for the ready line of version in slot.
func expectBoot(t *testing.T, vm *vmtest.VM, version, slot string) {
	t.Helper()
	_, m := vm.MustExpect(t, readyRE, 2*bootTimeout)
	if m[1] != version || m[2] != slot {
		t.Fatalf("booted %s in slot %s, want %s in slot %s", m[1], m[2], version, slot)
	}
}

// try runs cmd over SSH and returns its output and whether it succeeded;
// a connection that drops because the machine reboots is not an error
// when the output says so.
func try(t *testing.T, c *ssh.Client, cmd string) (string, bool) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.CombinedOutput(cmd)
	return string(out), err == nil || strings.Contains(string(out), "rebooting")
}

// installed says whether os-ctl upgrade's output says it installed
// version in slot and rebooted: its last line, or, when the reboot ended
// the SSH session before that line came, the reboot stage's.
func installed(out, version, slot string) bool {
	return strings.Contains(out, version+" installed in slot "+slot+"; rebooting") ||
		strings.Contains(out, "reboot: rebooting into "+version+" (slot "+slot+")")
}

func mustFail(t *testing.T, c *ssh.Client, cmd, want string) {
	t.Helper()
	out, ok := try(t, c, cmd)
	if ok || !strings.Contains(out, want) {
		t.Fatalf("%s: want a failure saying %q, got (ok=%v):\n%s", cmd, want, ok, out)
	}
}

func mustMatch(t *testing.T, out, re string) {
	t.Helper()
	if !regexp.MustCompile(re).MatchString(out) {
		t.Fatalf("output does not match /%s/:\n%s", re, out)
	}
}

// v1 → v2 on beta, rollback, v2 again, and the channel switched to alpha,
// whose broken v3 fails its health gate: the machine comes back to v2 on
// its own. Expired metadata, a tampered root image and a downgrade are
// refused and change nothing. Data on STATE survives every switch.
func TestUpdates(t *testing.T) {
	t.Parallel()
	b := vmtest.FindBuild(t)
	rels := testReleases(t, b)
	repo := publish(t, b, time.Now(), map[string]release{"stable": rels.v1, "beta": rels.v2, "alpha": rels.v3})
	main := repo.Dir
	expired := publish(t, b, time.Now().Add(-72*time.Hour), map[string]release{"beta": rels.v2}).Dir
	srv := serveRepo(t, expired)

	signer, key := sshKey(t)
	dir, sshPort := t.TempDir(), freePort(t)
	// The repository is reached only through berth.proxy's HTTP proxy:
	// its name resolves nowhere else.
	proxyPort, proxied := forwardProxy(t, repoHost)
	vm := updateVMWith(t, dir, sshPort, key, updateOpts{
		server: fmt.Sprintf("http://%s:%d/", repoHost, srv.port),
		berth:  fmt.Sprintf("  proxy:\n    http: http://10.0.2.2:%d\n", proxyPort)})
	expectBoot(t, vm, rels.v1.version, "A")
	if _, err := vm.Console.Seen(regexp.MustCompile(`^berth: boot loader entry=berth-a\.conf$`), time.Second); err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ClientConfig{User: "berth", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second}
	connect := func() *ssh.Client {
		t.Helper()
		c, err := dialSSH(t, sshPort, cfg, bootTimeout)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := connect()
	run(t, c, "sudo sh -c 'echo kept > /var/lib/update-test'")
	waitRun(t, c, "docker volume create keepvol", `keepvol`, 3*time.Minute)
	status := func() string { return run(t, c, "sudo os-ctl status") }
	untouched := func() {
		t.Helper()
		mustMatch(t, status(), `other slot:\s+B: -, empty`)
	}

	// A frozen mirror: metadata that expired are refused.
	mustFail(t, c, "sudo os-ctl upgrade", "expired")
	untouched()
	// A tampered chunk: its hash is not the one the signed index gives.
	srv.dir.Store(main)
	fresh, delta := newChunks(t, main, rels.v1, rels.v2)
	full := slotBytes(t, rels.v2)
	t.Logf("v1 → v2: %d new chunks, %d stored bytes of %d (%.1f%%)", len(fresh), delta, full, 100*float64(delta)/float64(full))
	bad := filepath.Join(main, update.ChunkDir, filepath.FromSlash(chunk.Rel(fresh[len(fresh)-1])))
	flip := func() {
		f, err := os.OpenFile(bad, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 1)
		f.ReadAt(buf, 20)
		buf[0] ^= 0xff
		f.WriteAt(buf, 20)
	}
	// The dry run says what the upgrade would fetch, and fetches no chunk.
	out := run(t, c, "sudo os-ctl upgrade --dry-run")
	mustMatch(t, out, `would install `+regexp.QuoteMeta(rels.v2.version)+` into slot B \(dry run\): would fetch [\d.]+[KM], reuse [\d.]+M from this machine`)
	if n := srv.chunks.Load(); n != 0 {
		t.Errorf("the dry run fetched %d bytes of chunks", n)
	}
	sentBefore := srv.sent.Load()
	flip()
	mustFail(t, c, "sudo os-ctl upgrade", "chunk "+fresh[len(fresh)-1]+": ")
	flip()
	untouched()
	mustMatch(t, status(), `last update:\s+upgrade .* → `+regexp.QuoteMeta(rels.v2.version)+` \(slot B\) at .*: failed \(stage download\): .*chunk `+fresh[len(fresh)-1]+`: .*tampered with or damaged`)

	// v1 → v2 on beta, from chunks: with the refused attempt before it
	// (whose good chunks the retry does not fetch again), it fetches at
	// most 5% of what a full update would.
	before := proxied.Load()
	out, ok := try(t, c, "sudo os-ctl upgrade")
	if !ok {
		t.Fatalf("upgrade:\n%s", out)
	}
	sent := srv.sent.Load() - sentBefore
	t.Logf("v1 → v2 fetched %d bytes (%d of them chunks) of a %d-byte slot: %.1f%%", sent, srv.chunks.Load(), full, 100*float64(sent)/float64(full))
	if sent > full/20 {
		t.Errorf("v1 → v2 fetched %d bytes, more than 5%% of the slot's %d", sent, full)
	}
	if slack := int64(4 * chunk.Default.Max); srv.chunks.Load() > delta+slack {
		t.Errorf("%d bytes of chunks sent for a %d-byte delta: the retry fetched again what the refused attempt had", srv.chunks.Load(), delta)
	}
	if proxied.Load() == before {
		t.Errorf("the upgrade did not go through berth.proxy's proxy")
	}
	if !installed(out, rels.v2.version, "B") {
		t.Fatalf("upgrade:\n%s", out)
	}
	expectBoot(t, vm, rels.v2.version, "B")
	vm.MustExpect(t, `^berth: health gate passed slot=B version=`+regexp.QuoteMeta(rels.v2.version)+`$`, 5*time.Minute)
	c = connect()
	st := status()
	mustMatch(t, st, `version:\s+`+regexp.QuoteMeta(rels.v2.version))
	mustMatch(t, st, `other slot:\s+A: `+regexp.QuoteMeta(rels.v1.version)+`, good`)
	mustMatch(t, st, `last update:\s+upgrade .*: good \(fetched [\d.]+[KM], reused [\d.]+M\)`)
	mustMatch(t, run(t, c, "cat /var/lib/update-test"), `^kept`)
	mustMatch(t, run(t, c, "docker volume ls -q"), `keepvol`)

	// No downgrade without the flag; the machine stays as it is.
	mustFail(t, c, "sudo os-ctl upgrade --channel stable", "--allow-downgrade")
	mustMatch(t, status(), `other slot:\s+A: `+regexp.QuoteMeta(rels.v1.version)+`, good`)

	// Rollback to v1, then v2 again.
	out, ok = try(t, c, "sudo os-ctl rollback")
	if !ok {
		t.Fatalf("rollback:\n%s", out)
	}
	expectBoot(t, vm, rels.v1.version, "A")
	vm.MustExpect(t, `^berth: health gate passed slot=A version=`+regexp.QuoteMeta(rels.v1.version)+`$`, 5*time.Minute)
	c = connect()
	mustMatch(t, status(), `last update:\s+rollback .*: good`)
	// Slot B still holds v2: upgrading to it again fetches no chunk.
	chunksBefore := srv.chunks.Load()
	if out, ok := try(t, c, "sudo os-ctl upgrade"); !ok {
		t.Fatalf("upgrade again:\n%s", out)
	}
	if n := srv.chunks.Load() - chunksBefore; n != 0 {
		t.Errorf("upgrading again to the release slot B holds fetched %d bytes of chunks", n)
	}
	expectBoot(t, vm, rels.v2.version, "B")
	vm.MustExpect(t, `^berth: health gate passed slot=B`, 5*time.Minute)
	c = connect()

	// The alpha channel offers v3, which fails its health gate: the
	// machine falls back to v2 by itself and says why.
	run(t, c, "sudo os-ctl channel set alpha")
	mustMatch(t, run(t, c, "sudo os-ctl channel"), `^alpha \(os-ctl channel set\)`)
	if out, ok := try(t, c, "sudo os-ctl upgrade"); !ok || !installed(out, rels.v3.version, "A") {
		t.Fatalf("upgrade to alpha:\n%s", out)
	}
	expectBoot(t, vm, rels.v3.version, "A")
	vm.MustExpect(t, `^berth: health gate failed slot=A version=`+regexp.QuoteMeta(rels.v3.version)+` reason=".*broken\.service failed`, 5*time.Minute)
	expectBoot(t, vm, rels.v2.version, "B")
	c = connect()
	st = status()
	mustMatch(t, st, `other slot:\s+A: `+regexp.QuoteMeta(rels.v3.version)+`, failed`)
	mustMatch(t, st, `last update:\s+upgrade .* → `+regexp.QuoteMeta(rels.v3.version)+` \(slot A\) at .*: rolled back \(stage health\): broken\.service failed`)
	mustFail(t, c, "sudo os-ctl rollback", "never passed the health gate")
	waitRun(t, c, "cat /var/lib/update-test; docker volume ls -q", `(?s)kept.*keepvol`, 3*time.Minute)

	// A release whose root fails dm-verity never reaches its health gate:
	// systemd-boot tries it three times, then boots v2 again, which says
	// why (stage 1 left a note on STATE).
	if _, err := repo.Publish(unbootable(t, rels.v2, "0.4.0"), "alpha"); err != nil {
		t.Fatal(err)
	}
	if out, ok := try(t, c, "sudo os-ctl upgrade"); !ok || !installed(out, "0.4.0", "A") {
		t.Fatalf("upgrade to 0.4.0:\n%s", out)
	}
	for i := 1; i <= 3; i++ {
		vm.MustExpect(t, `^berth: boot failed: slot A: .*input/output error \(the root does not match the root hash of its boot entry\)$`, 2*bootTimeout)
	}
	expectBoot(t, vm, rels.v2.version, "B")
	c = connect()
	st = status()
	mustMatch(t, st, `other slot:\s+A: 0\.4\.0, failed`)
	mustMatch(t, st, `last update:\s+upgrade .* → 0\.4\.0 \(slot A\) at .*: rolled back \(stage boot\): slot A did not come up: 3 tries; the last: stage 1: slot A: .*input/output error \(the root does not match the root hash of its boot entry\)`)
}

// Power cuts at five moments of an update: every time the machine boots
// the release it ran, and a retried update (the strategy loop's, this
// time) succeeds. While one update is under way a second is refused.
func TestUpdatePowerCuts(t *testing.T) {
	t.Parallel()
	b := vmtest.FindBuild(t)
	rels := testReleases(t, b)
	repo := publish(t, b, time.Now(), map[string]release{"stable": rels.v1, "beta": rels.v2}).Dir
	srv := serveRepo(t, repo)
	_, delta := newChunks(t, repo, rels.v1, rels.v2)
	signer, key := sshKey(t)
	dir, sshPort := t.TempDir(), freePort(t)
	cfg := &ssh.ClientConfig{User: "berth", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second}
	boot := func() (*vmtest.VM, *ssh.Client) {
		t.Helper()
		vm := updateVM(t, dir, srv.port, sshPort, key)
		expectBoot(t, vm, rels.v1.version, "A")
		c, err := dialSSH(t, sshPort, cfg, bootTimeout)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return vm, c
	}
	for _, moment := range []string{"download", "write", "esp", "entry", "installed"} {
		vm, c := boot()
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		pipe, _ := s.StdoutPipe()
		// The power-cut seam: sysd's updater stops at the moment this
		// root-only file on /run names.
		if err := s.Start("echo " + moment + " | sudo tee /run/berth/update-pause-at >/dev/null && sudo os-ctl upgrade 2>&1"); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 100)
		go func() {
			sc := bufio.NewScanner(pipe)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		var seen []string
		deadline := time.After(10 * time.Minute)
	wait:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("%s: os-ctl upgrade ended before the pause:\n%s", moment, strings.Join(seen, "\n"))
				}
				seen = append(seen, l)
				if l == "paused at "+moment {
					break wait
				}
			case <-deadline:
				t.Fatalf("%s: no pause within 10 minutes:\n%s", moment, strings.Join(seen, "\n"))
			}
		}
		if moment == "write" {
			mustFail(t, c, "sudo os-ctl upgrade", "already running")
		}
		t.Logf("power cut at %s, %d of %d bytes of chunks fetched so far", moment, srv.chunks.Load(), delta)
		if moment == "download" && (srv.chunks.Load() == 0 || srv.chunks.Load() >= delta) {
			t.Errorf("the cut while chunks were fetched came after %d of %d bytes", srv.chunks.Load(), delta)
		}
		vm.Kill()
	}
	// The retry is the machine's own: strategy reboot checks 30s after
	// the boot, installs, and reboots at once (no window).
	vm := updateVM(t, dir, srv.port, sshPort, key, "strategy: reboot", "interval: 30s")
	expectBoot(t, vm, rels.v1.version, "A")
	vm.MustExpect(t, `^berth: update: `+regexp.QuoteMeta(rels.v2.version)+` installed in slot B; rebooting at `, 10*time.Minute)
	expectBoot(t, vm, rels.v2.version, "B")
	vm.MustExpect(t, `^berth: health gate passed slot=B version=`+regexp.QuoteMeta(rels.v2.version)+`$`, 5*time.Minute)
	// Chunks checked and kept before a cut are not fetched again: across
	// six attempts, the delta once, and at most the chunks in flight when
	// the power went.
	if slack := int64(4 * chunk.Default.Max); srv.chunks.Load() > delta+slack {
		t.Errorf("%d bytes of chunks fetched over the attempts, for a %d-byte delta", srv.chunks.Load(), delta)
	}
}

// A release that adds one Debian package (socat) to the console image
// fetches at most 10% of the slot's bytes, and the console has it after.
// The release also boots with one kernel argument more (Makefile): the
// new slot's entry has the release's arguments, not the running
// updater's.
func TestDeltaUpdateOnePackage(t *testing.T) {
	t.Parallel()
	b := vmtest.FindBuild(t)
	rels := testReleases(t, b)
	repo := publish(t, b, time.Now(), map[string]release{"stable": rels.v1, "beta": rels.v5}).Dir
	srv := serveRepo(t, repo)
	_, delta := newChunks(t, repo, rels.v1, rels.v5)
	full := slotBytes(t, rels.v5)
	signer, key := sshKey(t)
	dir, sshPort := t.TempDir(), freePort(t)
	vm := updateVM(t, dir, srv.port, sshPort, key)
	expectBoot(t, vm, rels.v1.version, "A")
	cfg := &ssh.ClientConfig{User: "berth", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second}
	c, err := dialSSH(t, sshPort, cfg, bootTimeout)
	if err != nil {
		t.Fatal(err)
	}
	mustFail(t, c, "socat -V", "not found")
	const newArg = "printk.devkmsg=on"
	if out := run(t, c, "cat /proc/cmdline"); strings.Contains(out, newArg) {
		t.Fatalf("v1 already boots with %s: %s", newArg, out)
	}
	if out, ok := try(t, c, "sudo os-ctl upgrade"); !ok || !installed(out, rels.v5.version, "B") {
		t.Fatalf("upgrade:\n%s", out)
	}
	c.Close()
	sent := srv.sent.Load()
	t.Logf("v1 → v5 (+socat) fetched %d bytes (%d of them chunks; the delta is %d) of a %d-byte slot: %.1f%%", sent, srv.chunks.Load(), delta, full, 100*float64(sent)/float64(full))
	if sent > full/10 {
		t.Errorf("fetched %d bytes, more than 10%% of the slot's %d", sent, full)
	}
	if srv.chunks.Load() != delta {
		t.Errorf("fetched %d bytes of chunks, the delta is %d", srv.chunks.Load(), delta)
	}
	expectBoot(t, vm, rels.v5.version, "B")
	c, err = dialSSH(t, sshPort, cfg, bootTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustMatch(t, run(t, c, "socat -V"), `socat version 1\.`)
	mustMatch(t, run(t, c, "cat /proc/cmdline"), `console=ttyS0,115200 .*`+regexp.QuoteMeta(newArg)+` berth\.slot=B berth\.verity=`)
}

// A slot on trial whose bootcmd hangs never reaches its health gate (sysd
// applies user-data first). PID 1 bounds the trial from outside sysd: at
// the trial timeout it notes why and reboots, with the hardware watchdog
// (QEMU's i6300esb) armed meanwhile; once the new slot's tries are spent
// the boot loader goes back to the slot that ran, which says why.
func TestTrialDeadlineFallsBack(t *testing.T) {
	t.Parallel()
	b := vmtest.FindBuild(t)
	rels := testReleases(t, b)
	// A repository without chunk indexes: this machine downloads the
	// parts whole, as machines did before them.
	repo := publishRepo(t, b, time.Now(), true, map[string]release{"beta": rels.v2})
	srv := serveRepo(t, repo.Dir)
	signer, key := sshKey(t)
	dir, sshPort := t.TempDir(), freePort(t)
	// Slot B only: the new release is fine, what hangs is this machine's
	// bootcmd on it.
	vm := updateVMWith(t, dir, sshPort, key, updateOpts{port: srv.port,
		top:      "bootcmd:\n  - grep -q berth.slot=B /proc/cmdline && sleep 100000 || true\n",
		extra:    []string{"-device", "i6300esb"},
		strategy: []string{"strategy: off", "tries: 1", "trial_timeout: 60s"}})
	expectBoot(t, vm, rels.v1.version, "A")
	cfg := &ssh.ClientConfig{User: "berth", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second}
	c, err := dialSSH(t, sshPort, cfg, bootTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if out, ok := try(t, c, "sudo os-ctl upgrade"); !ok || !installed(out, rels.v2.version, "B") {
		t.Fatalf("upgrade:\n%s", out)
	}
	c.Close()
	if full := slotBytes(t, rels.v2); srv.chunks.Load() != 0 || srv.sent.Load() < full {
		t.Errorf("fetched %d bytes (%d as chunks) of a %d-byte release published whole", srv.sent.Load(), srv.chunks.Load(), full)
	}
	vm.MustExpect(t, `^berth: trial: berth-b\+0-1\.conf is on trial: PID 1 reboots if no health verdict comes within 1m0s$`, 2*bootTimeout)
	vm.MustExpect(t, `^berth: trial: hardware watchdog .+ armed \(60 s\)$`, bootTimeout)
	vm.MustExpect(t, `^berth: trial: berth-b\+0-1\.conf: no health verdict within 1m0s \(PID 1's trial deadline\): rebooting`, 2*bootTimeout)
	expectBoot(t, vm, rels.v1.version, "A")
	c, err = dialSSH(t, sshPort, cfg, bootTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st := run(t, c, "sudo os-ctl status")
	mustMatch(t, st, `other slot:\s+B: `+regexp.QuoteMeta(rels.v2.version)+`, failed`)
	mustMatch(t, st, `last update:\s+upgrade .* → `+regexp.QuoteMeta(rels.v2.version)+` \(slot B\) at .*: rolled back \(stage boot\): slot B did not come up: 1 tries; the last: berth-b\+0-1\.conf: no health verdict within 1m0s \(PID 1's trial deadline\)`)
}
