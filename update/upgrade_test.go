package update_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/update"
	"berth.dev/berth/update/chunk"
	"berth.dev/berth/update/publish/publishtest"
)

// machine is a Berth machine in a directory: an ESP, two partition
// files, STATE's update records. Its reboot is systemd-boot's choice
// (Entries.Boot) followed by sysd's Booted.
type machine struct {
	t        *testing.T
	dir      string
	repo     *publishtest.Repo
	slot     string
	version  string
	reboots  int
	channel  string
	tampered bool
}

func newMachine(t *testing.T, r *publishtest.Repo) *machine {
	m := &machine{t: t, dir: t.TempDir(), repo: r, slot: "A", version: "0.1.0", channel: "stable"}
	for _, s := range []string{"A", "B"} {
		if err := os.WriteFile(m.partition(s), make([]byte, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(m.dir, "esp", "loader", "entries"), 0o755)
	factory := publishtest.FakeVerity("0.1.0")
	if err := m.updater().Entries().Write("A", "0.1.0", publishtest.FakeArgs("0.1.0"), &factory, 1, 0); err != nil {
		t.Fatal(err)
	}
	if trial, err := m.updater().Booted(time.Now()); trial || err != nil {
		t.Fatalf("factory boot: trial %v, %v", trial, err)
	}
	return m
}

func (m *machine) partition(slot string) string { return filepath.Join(m.dir, "ROOT-"+slot) }

func (m *machine) updater() *update.Updater {
	src := m.repo.Source(m.channel, filepath.Join(m.dir, "state", "metadata"))
	return &update.Updater{Source: src, Machine: update.Machine{
		Slot: m.slot, Version: m.version,
		Records:   update.Records{Dir: filepath.Join(m.dir, "state")},
		ESP:       filepath.Join(m.dir, "esp"),
		Partition: func(s string) (string, error) { return m.partition(s), nil },
		Reboot:    func() error { m.reboots++; return nil },
	}}
}

// boot powers the machine on: systemd-boot picks an entry, sysd
// reconciles; it returns whether the slot is on trial.
func (m *machine) boot() bool {
	m.t.Helper()
	e, err := m.updater().Entries().Boot()
	if err != nil {
		m.t.Fatal(err)
	}
	m.slot, m.version = e.Slot, e.Release
	// The entry hands the release's root hash to stage 1, after an
	// upgrade and after a rollback.
	if v := publishtest.FakeVerity(m.version); e.Verity == nil || *e.Verity != v {
		m.t.Fatalf("slot %s's entry has verity %+v, want %+v", e.Slot, e.Verity, v)
	}
	// And the release's kernel arguments, not the updater's.
	if want := publishtest.FakeArgs(m.version); !slices.Equal(e.Args, want) {
		m.t.Fatalf("slot %s's entry has kernel arguments %q, want %q", e.Slot, e.Args, want)
	}
	// What stage 1 would mount: the partition must hold that release.
	if b, _ := os.ReadFile(m.partition(e.Slot)); m.version != "0.1.0" && !bytes.HasPrefix(b, []byte("root.img of "+m.version+"\n")) {
		m.t.Fatalf("slot %s does not hold %s", e.Slot, m.version)
	}
	trial, err := m.updater().Booted(time.Now())
	if err != nil {
		m.t.Fatal(err)
	}
	return trial
}

func (m *machine) upgrade(opt update.Options) (update.Attempt, error) {
	return m.updater().Upgrade(context.Background(), opt, nil)
}

func (m *machine) mustUpgrade(opt update.Options, to string) {
	m.t.Helper()
	a, err := m.upgrade(opt)
	if err != nil {
		m.t.Fatalf("upgrade to %s: %v", to, err)
	}
	if a.To.Version != to || a.To.Slot != update.Other(m.slot) || a.Result != update.ResultRebooting {
		m.t.Fatalf("attempt %+v", a)
	}
	esp, _ := os.ReadFile(filepath.Join(m.dir, "esp", "berth", a.To.Slot, "vmlinuz"))
	if string(esp) != strings.Repeat("vmlinuz of "+to+"\n", 1000) {
		m.t.Fatalf("ESP kernel of slot %s is not %s's", a.To.Slot, to)
	}
}

func (m *machine) status() update.Status { return m.updater().Status("check") }

func (m *machine) expectRunning(slot, version string) {
	m.t.Helper()
	if m.slot != slot || m.version != version {
		m.t.Fatalf("running %s in %s, want %s in %s", m.version, m.slot, version, slot)
	}
}

func TestUpgradeRollbackAndFallback(t *testing.T) {
	r := publishtest.NewRepo(t)
	publishtest.MustPublish(t, r, "0.1.0", "stable")
	publishtest.MustPublish(t, r, "0.2.0", "beta")
	m := newMachine(t, r)

	// stable has nothing newer.
	if _, err := m.upgrade(update.Options{}); !errors.Is(err, update.ErrUpToDate) || !strings.Contains(err.Error(), "0.1.0 is the one running") {
		t.Fatalf("stable: %v", err)
	}
	if st := m.status(); st.Last != nil {
		t.Fatalf("nothing to do was recorded as an attempt: %+v", st.Last)
	}
	// v1 → v2 on beta: B is written and preferred, with a try counter.
	m.channel = "beta"
	m.mustUpgrade(update.Options{}, "0.2.0")
	whole := wholeSize("0.2.0")
	// The release comes as chunks: compressed, each fetched once.
	if a := m.status().Last; a.Downloaded != a.Fetch || a.Downloaded <= 0 || a.Downloaded >= whole {
		t.Fatalf("downloaded %d bytes of chunks, set out to fetch %d; the parts are %d whole", a.Downloaded, a.Fetch, whole)
	}
	if m.reboots != 1 {
		t.Fatalf("reboots %d", m.reboots)
	}
	if !m.boot() {
		t.Fatal("slot B is not on trial")
	}
	m.expectRunning("B", "0.2.0")
	if err := m.updater().Passed(time.Now()); err != nil {
		t.Fatal(err)
	}
	st := m.status()
	if st.Last.Result != update.ResultGood || st.Slots[0].State != "good" || st.Slots[1].State != "good" || st.Slots[0].Version != "0.1.0" || st.Channel != "beta" {
		t.Fatalf("status %+v %+v", st, st.Last)
	}
	// A good slot keeps booting.
	if m.boot() {
		t.Fatal("on trial after passing")
	}
	m.expectRunning("B", "0.2.0")

	// Rollback to v1, then upgrade again.
	if to, err := m.updater().Rollback(); err != nil || to.Version != "0.1.0" {
		t.Fatalf("rollback: %v %v", to, err)
	}
	if !m.boot() {
		t.Fatal("rollback slot not on trial")
	}
	m.expectRunning("A", "0.1.0")
	m.updater().Passed(time.Now())
	m.mustUpgrade(update.Options{}, "0.2.0")
	m.boot()
	m.updater().Passed(time.Now())
	m.expectRunning("B", "0.2.0")

	// A broken 0.3.0 fails its health gate: marked bad, the machine comes
	// back to 0.2.0, and the reason is kept.
	publishtest.MustPublish(t, r, "0.3.0", "beta")
	m.mustUpgrade(update.Options{}, "0.3.0")
	if !m.boot() {
		t.Fatal("0.3.0 not on trial")
	}
	m.expectRunning("A", "0.3.0")
	if err := m.updater().Failed(time.Now(), "docker.service not healthy within 120s"); err != nil {
		t.Fatal(err)
	}
	m.boot()
	m.expectRunning("B", "0.2.0")
	st = m.status()
	if st.Last.Result != update.ResultRolledBack || st.Last.Reason != "docker.service not healthy within 120s" || st.Slots[0].State != "failed" {
		t.Fatalf("status %+v %+v", st.Slots, st.Last)
	}
	if _, err := m.updater().Rollback(); err == nil || !strings.Contains(err.Error(), "never passed the health gate") {
		t.Fatalf("rollback to a failed slot: %v", err)
	}

	// One that never reaches the gate: three tries, then 0.2.0 again.
	publishtest.MustPublish(t, r, "0.3.1", "beta")
	m.mustUpgrade(update.Options{}, "0.3.1")
	for i := 0; i < 3; i++ {
		if !m.boot() {
			t.Fatalf("try %d: not on trial", i+1)
		}
		m.expectRunning("A", "0.3.1")
	}
	m.boot()
	m.expectRunning("B", "0.2.0")
	if a := m.status().Last; a.Result != update.ResultRolledBack || !strings.Contains(a.Reason, "3 tries") {
		t.Fatalf("attempt %+v", a)
	}

	// Switching the channel picks that channel's release.
	publishtest.MustPublish(t, r, "0.4.0", "alpha")
	if err := m.updater().Machine.Records.SetChannel("alpha"); err != nil {
		t.Fatal(err)
	}
	if ch, from := m.updater().Channel(); ch != "alpha" || from != "os-ctl channel set" {
		t.Fatalf("channel %s from %s", ch, from)
	}
	m.mustUpgrade(update.Options{}, "0.4.0")
}

func TestUpgradeRefusalsLeaveTheMachineAlone(t *testing.T) {
	r := publishtest.NewRepo(t)
	publishtest.MustPublish(t, r, "0.1.0", "stable")
	publishtest.MustPublish(t, r, "0.2.0", "beta")
	m := newMachine(t, r)
	m.channel = "beta"
	m.mustUpgrade(update.Options{}, "0.2.0")
	m.boot()
	m.updater().Passed(time.Now())
	before := snapshot(t, m)

	// Dry run: the offer, nothing written.
	if a, err := m.upgrade(update.Options{Channel: "stable", AllowDowngrade: true, DryRun: true}); err != nil || a.To.Version != "0.1.0" {
		t.Fatalf("dry run: %+v %v", a, err)
	}
	// A downgrade needs the flag.
	if _, err := m.upgrade(update.Options{Channel: "stable"}); err == nil || !strings.Contains(err.Error(), "--allow-downgrade") {
		t.Fatalf("downgrade: %v", err)
	}
	// A tampered chunk: the attempt names it.
	publishtest.MustPublish(t, r, "0.3.0", "beta")
	raw, err := os.ReadFile(filepath.Join(r.Dir, "targets", "releases", "0.3.0", "root.img.idx"))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := chunk.Parse("root.img.idx", raw)
	if err != nil {
		t.Fatal(err)
	}
	bad := ix.Chunks[0].SHA256
	flip(t, filepath.Join(r.Dir, update.ChunkDir, filepath.FromSlash(chunk.Rel(bad))), 10)
	_, err = m.upgrade(update.Options{})
	if err == nil || !strings.Contains(err.Error(), "chunk "+bad+": ") || !strings.Contains(err.Error(), "tampered") {
		t.Fatalf("tampered chunk: %v", err)
	}
	if a := m.status().Last; a.Result != update.ResultFailed || a.Stage != "download" || !strings.Contains(a.Reason, bad) {
		t.Fatalf("attempt %+v", a)
	}
	if after := snapshot(t, m); after != before {
		t.Fatalf("the machine changed:\n%s\n%s", before, after)
	}
	// A tampered root image, in a repository that serves parts whole.
	r.Whole = true
	publishtest.MustPublish(t, r, "0.3.1", "beta")
	flip(t, filepath.Join(r.Dir, "targets", "releases", "0.3.1", "root.img"), 10)
	_, err = m.upgrade(update.Options{})
	if err == nil || !strings.Contains(err.Error(), "tampered") || !strings.Contains(err.Error(), "root.img") {
		t.Fatalf("tampered: %v", err)
	}
	if a := m.status().Last; a.Result != update.ResultFailed || a.Stage != "download" || a.Reused != 0 || a.Fetch != wholeSize("0.3.1") {
		t.Fatalf("attempt %+v", a)
	}
	if after := snapshot(t, m); after != before {
		t.Fatalf("the machine changed:\n%s\n%s", before, after)
	}
	if m.boot() {
		t.Fatal("trial")
	}
	m.expectRunning("B", "0.2.0")
}

// wholeSize is what publishtest's release of version comes to, whole.
func wholeSize(version string) (n int64) {
	for _, name := range update.PartNames {
		n += int64(len(name+" of "+version+"\n") * 1000)
	}
	return n
}

// flip changes the byte at off in the file at path.
func flip(t *testing.T, path string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// snapshot is what must not change when an update is refused: the
// entries and both partitions.
func snapshot(t *testing.T, m *machine) string {
	s := update.Files(t, filepath.Join(m.dir, "esp", "loader", "entries"))
	for _, p := range []string{"A", "B"} {
		h, err := update.HashFile(m.partition(p))
		if err != nil {
			t.Fatal(err)
		}
		s += " " + h.SHA256[:12]
	}
	return s
}

// A power cut at each moment of an update: the machine boots what it ran,
// and the next attempt succeeds.
func TestUpgradePowerCuts(t *testing.T) {
	r := publishtest.NewRepo(t)
	publishtest.MustPublish(t, r, "0.1.0", "stable")
	publishtest.MustPublish(t, r, "0.2.0", "stable")
	for _, moment := range []string{"download", "write", "esp", "entry", "installed"} {
		t.Run(moment, func(t *testing.T) {
			m := newMachine(t, r)
			ctx, cancel := context.WithCancel(context.Background())
			paused := false
			u := m.updater()
			u.PauseAt = func() string { return moment }
			_, err := u.Upgrade(ctx, update.Options{}, func(p update.Progress) {
				if p.Stage == "paused" && p.Msg == moment {
					paused = true
					cancel() // the power goes
				}
			})
			if !paused || err == nil {
				t.Fatalf("did not stop at %s: %v", moment, err)
			}
			if m.boot() {
				t.Fatal("on trial after the cut")
			}
			m.expectRunning("A", "0.1.0")
			m.mustUpgrade(update.Options{}, "0.2.0")
			m.boot()
			m.expectRunning("B", "0.2.0")
		})
	}
}

func TestOneUpdateAtATime(t *testing.T) {
	r := publishtest.NewRepo(t)
	publishtest.MustPublish(t, r, "0.1.0", "stable")
	publishtest.MustPublish(t, r, "0.2.0", "stable")
	m := newMachine(t, r)
	u := m.updater()
	u.PauseAt = func() string { return "write" }
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := u.Upgrade(ctx, update.Options{}, func(p update.Progress) {
			if p.Stage == "paused" {
				close(started)
			}
		})
		done <- err
	}()
	<-started
	if _, err := u.Upgrade(context.Background(), update.Options{}, nil); !errors.Is(err, update.ErrBusy) {
		t.Fatalf("second update: %v", err)
	}
	if _, err := u.Rollback(); !errors.Is(err, update.ErrBusy) {
		t.Fatalf("rollback during an update: %v", err)
	}
	if !u.Status("").Running {
		t.Fatal("status does not say running")
	}
	cancel()
	<-done
}

// --no-reboot (and strategy reboot, which reboots later): the attempt
// waits as installed across boots of the old slot until the new one runs.
func TestUpgradeNoReboot(t *testing.T) {
	r := publishtest.NewRepo(t)
	publishtest.MustPublish(t, r, "0.1.0", "stable")
	publishtest.MustPublish(t, r, "0.2.0", "stable")
	m := newMachine(t, r)
	a, err := m.upgrade(update.Options{NoReboot: true})
	if err != nil || a.Result != update.ResultInstalled || m.reboots != 0 {
		t.Fatalf("%+v %v, %d reboots", a, err, m.reboots)
	}
	if st := m.status(); st.Slots[1].State != "on trial" || st.Last.Result != update.ResultInstalled {
		t.Fatalf("%+v %+v", st.Slots, st.Last)
	}
	if !m.boot() {
		t.Fatal("not on trial")
	}
	m.expectRunning("B", "0.2.0")
	m.updater().Passed(time.Now())
	if a := m.status().Last; a.Result != update.ResultGood {
		t.Fatalf("%+v", a)
	}
	publishtest.MustPublish(t, r, "0.3.0", "stable")
	if a, err := m.upgrade(update.Options{DownloadOnly: true}); err != nil || a.Result != update.ResultDownloaded {
		t.Fatalf("download only: %+v %v", a, err)
	}
	if st := m.status(); st.Slots[0].State != "good" || st.Slots[0].Version != "0.1.0" {
		t.Fatalf("download only touched slot A: %+v", st.Slots)
	}
}

// What a power cut leaves: an attempt still running. The next boot says
// it was interrupted. While a slot is on trial, neither an update nor a
// rollback may start, and the attempt it finishes is kept.
func TestInterruptedAndOnTrial(t *testing.T) {
	r := publishtest.NewRepo(t)
	publishtest.MustPublish(t, r, "0.1.0", "stable")
	publishtest.MustPublish(t, r, "0.2.0", "stable")
	m := newMachine(t, r)
	recs := m.updater().Machine.Records
	recs.SaveAttempt(update.Attempt{Kind: "upgrade", From: update.SlotRelease{"A", "0.1.0"}, To: update.SlotRelease{"B", "0.2.0"}, Stage: "write", Result: update.ResultRunning})
	m.boot()
	if a := m.status().Last; a.Result != update.ResultFailed || !strings.Contains(a.Reason, "interrupted at stage write") {
		t.Fatalf("%+v", a)
	}
	m.mustUpgrade(update.Options{}, "0.2.0")
	if !m.boot() {
		t.Fatal("not on trial")
	}
	for _, err := range []error{
		func() error { _, err := m.upgrade(update.Options{Version: "0.1.0", AllowDowngrade: true}); return err }(),
		func() error { _, err := m.updater().Rollback(); return err }(),
	} {
		if !errors.Is(err, update.ErrRefused) || !strings.Contains(err.Error(), "on trial") {
			t.Fatalf("on trial: %v", err)
		}
	}
	if a := m.status().Last; a.Result != update.ResultRebooting || a.To.Version != "0.2.0" {
		t.Fatalf("the trial's attempt was replaced: %+v", a)
	}
}

// A repository server that sends headers and then nothing ends the check
// within CheckTimeout, and the updater is free again: before, go-tuf's
// fetcher waited for ever while holding the lock, and every upgrade and
// rollback said "already running" until a reboot.
func TestSilentServerEndsTheCheck(t *testing.T) {
	r := publishtest.NewRepo(t)
	publishtest.MustPublish(t, r, "0.1.0", "stable")
	hold := make(chan struct{})
	defer close(hold)
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Length", "4096")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-hold:
		case <-req.Context().Done():
		}
	}))
	defer silent.Close()
	defer func(d time.Duration) { update.CheckTimeout = d }(update.CheckTimeout)
	update.CheckTimeout = 2 * time.Second
	m := newMachine(t, r)
	u := m.updater()
	u.Source.Server = silent.URL
	done := make(chan error, 1)
	go func() { _, err := u.Upgrade(context.Background(), update.Options{}, nil); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no answer within 2s") {
			t.Fatalf("check against a silent server: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the check still hangs after a minute")
	}
	if _, err := u.Rollback(); errors.Is(err, update.ErrBusy) {
		t.Fatalf("rollback after the check: %v", err)
	}
}
