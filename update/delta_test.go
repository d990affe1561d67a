package update_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"berth.dev/berth/internal/layout"
	"berth.dev/berth/update"
	"berth.dev/berth/update/chunk"
	"berth.dev/berth/update/publish/publishtest"
)

// deltaMachine runs v1 in slot A (its root on partition A, its kernel
// and initramfs on the ESP) and reaches a repository through a server
// that counts the chunk bytes it sends.
type deltaMachine struct {
	t          *testing.T
	dir        string
	repo       *publishtest.Repo
	srv        *httptest.Server
	chunkBytes atomic.Int64
	// hang, when set, makes chunk requests wait until the client goes.
	hang atomic.Bool
}

// deltaRelease writes a release directory with the given parts.
func deltaRelease(t *testing.T, version string, parts map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	r := update.Release{Version: version, Architecture: "amd64", Parts: map[string]update.Part{}}
	for name, b := range parts {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		h, _ := update.HashFile(filepath.Join(dir, name))
		r.Parts[name] = h
	}
	v := rootVerity(version, parts["root.img"])
	r.Verity = &v
	if err := r.WriteJSON(filepath.Join(dir, "release.json")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// rootVerity is a tree description whose data end inside root and whose
// image size, tree included, covers it: the updater reads the running
// slot that far.
func rootVerity(version string, root []byte) layout.Verity {
	v := publishtest.FakeVerity(version)
	v.DataBlocks = uint64(len(root))/layout.VerityBlockSize - 1
	return v
}

func random(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// v1 and v2 of a release that differ as a version-only release does: a
// few bytes in the root, an initramfs rebuilt, the same kernel.
func deltaReleases() (v1, v2 map[string][]byte) {
	v1 = map[string][]byte{"root.img": random(1, 3<<20), "vmlinuz": random(2, 1<<20), "initrd.img": random(3, 512<<10)}
	root := append([]byte(nil), v1["root.img"][:2<<20]...)
	root = append(root, []byte("version 0.2.0, 4 KiB more")...)
	root = append(root, random(4, 4096)...)
	root = append(root, v1["root.img"][2<<20:]...)
	copy(root[1<<20:], "0.2.0")
	v2 = map[string][]byte{"root.img": root, "vmlinuz": v1["vmlinuz"], "initrd.img": random(5, 512<<10)}
	return v1, v2
}

func newDeltaMachine(t *testing.T, v1 map[string][]byte) *deltaMachine {
	m := &deltaMachine{t: t, dir: t.TempDir(), repo: publishtest.NewRepo(t)}
	files := http.FileServer(http.Dir(m.repo.Dir))
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/"+update.ChunkDir+"/") {
			files.ServeHTTP(w, r)
			return
		}
		if m.hang.Load() {
			<-r.Context().Done()
			return
		}
		files.ServeHTTP(countingWriter{w, &m.chunkBytes}, r)
	}))
	t.Cleanup(m.srv.Close)
	part := func(slot string, root []byte) {
		b := make([]byte, 5<<20)
		copy(b, root)
		if err := os.WriteFile(m.partition(slot), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	part("A", v1["root.img"])
	part("B", nil)
	esp := filepath.Join(m.dir, "esp", layout.ESPDir("A"))
	os.MkdirAll(esp, 0o755)
	for _, name := range []string{"vmlinuz", "initrd.img"} {
		if err := os.WriteFile(filepath.Join(esp, name), v1[name], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(m.dir, "esp", "loader", "entries"), 0o755)
	v := rootVerity("0.1.0", v1["root.img"])
	if err := m.updater().Entries().Write("A", "0.1.0", nil, &v, 1, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.updater().Booted(time.Now()); err != nil {
		t.Fatal(err)
	}
	return m
}

// newChunk is a chunk of 0.2.0's root image that v1's root lacks: one the
// update must fetch.
func newChunk(t *testing.T, repo string, v1 []byte) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repo, "targets", "releases", "0.2.0", "root.img.idx"))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := chunk.Parse("root.img.idx", raw)
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]bool{}
	chunk.Split(bytes.NewReader(v1), ix.Params, func(p chunk.Piece) error { old[p.Hex()] = true; return nil })
	for _, c := range ix.Chunks {
		if !old[c.SHA256] {
			return c.SHA256
		}
	}
	t.Fatal("0.2.0's root has no new chunk")
	return ""
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func (m *deltaMachine) partition(slot string) string { return filepath.Join(m.dir, "ROOT-"+slot) }

func (m *deltaMachine) updater() *update.Updater {
	src := m.repo.Source("beta", filepath.Join(m.dir, "state", "metadata"))
	src.Server = m.srv.URL
	return &update.Updater{Source: src, Machine: update.Machine{
		Slot: "A", Version: "0.1.0",
		Records:   update.Records{Dir: filepath.Join(m.dir, "state")},
		ESP:       filepath.Join(m.dir, "esp"),
		Partition: func(s string) (string, error) { return m.partition(s), nil },
		Reboot:    func() error { return nil },
	}}
}

// holds checks that slot B and its ESP directory hold the release.
func (m *deltaMachine) holds(rel map[string][]byte) {
	m.t.Helper()
	b, _ := os.ReadFile(m.partition("B"))
	if !bytes.HasPrefix(b, rel["root.img"]) {
		m.t.Fatal("slot B does not hold the release's root image")
	}
	for _, name := range []string{"vmlinuz", "initrd.img"} {
		b, _ := os.ReadFile(filepath.Join(m.dir, "esp", layout.ESPDir("B"), name))
		if !bytes.Equal(b, rel[name]) {
			m.t.Fatalf("the ESP's %s of slot B is not the release's", name)
		}
	}
}

func whole(rel map[string][]byte) (n int64) {
	for _, b := range rel {
		n += int64(len(b))
	}
	return n
}

// A version-only release: the dry run says how little it would fetch and
// fetches nothing; the upgrade fetches exactly that, as chunks, and the
// slot then holds the release.
func TestDeltaUpgrade(t *testing.T) {
	v1, v2 := deltaReleases()
	m := newDeltaMachine(t, v1)
	if _, err := m.repo.Publish(deltaRelease(t, "0.2.0", v2), "beta"); err != nil {
		t.Fatal(err)
	}
	before, _ := update.HashFile(m.partition("B"))
	var checkMsgs []string
	a, err := m.updater().Upgrade(context.Background(), update.Options{DryRun: true}, func(p update.Progress) {
		if p.Stage == "check" {
			checkMsgs = append(checkMsgs, p.Msg)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// The new initramfs, and the root's chunks around its two changes.
	if slack := 4 * int64(chunk.Default.Max); a.Fetch <= int64(len(v2["initrd.img"])) || a.Fetch > int64(len(v2["initrd.img"]))+slack || a.Reused < whole(v2)-a.Fetch-slack {
		t.Fatalf("dry run: fetch %d, reuse %d of %d", a.Fetch, a.Reused, whole(v2))
	}
	if !strings.Contains(strings.Join(checkMsgs, "\n"), "bytes to fetch (as chunks)") {
		t.Errorf("the check said:\n%s", strings.Join(checkMsgs, "\n"))
	}
	if after, _ := update.HashFile(m.partition("B")); m.chunkBytes.Load() != 0 || after != before {
		t.Fatalf("the dry run fetched %d chunk bytes or wrote the slot", m.chunkBytes.Load())
	}
	var lastDownload update.Progress
	a, err = m.updater().Upgrade(context.Background(), update.Options{}, func(p update.Progress) {
		if p.Stage == "download" && p.Total > 0 {
			lastDownload = p
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	m.holds(v2)
	if a.Downloaded != a.Fetch || a.Downloaded-int64(len(v2["initrd.img"])) != m.chunkBytes.Load() || a.Reused == 0 {
		t.Errorf("fetched %d (%d counted at the server), set out to fetch %d, reused %d", a.Downloaded, m.chunkBytes.Load(), a.Fetch, a.Reused)
	}
	if lastDownload.Done != lastDownload.Total || lastDownload.Reused == 0 {
		t.Errorf("the download's last progress: %+v", lastDownload)
	}
	if st, ok, _ := m.updater().Machine.Records.Attempt(); !ok || st.Fetch != a.Fetch || st.Reused != a.Reused {
		t.Errorf("the attempt record says fetch %d, reused %d", st.Fetch, st.Reused)
	}
	if _, err := os.Stat(filepath.Join(m.dir, "state", "chunks")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the chunk cache outlived the install: %v", err)
	}
}

// Power cuts while chunks are fetched and while the slot is assembled:
// the retries fetch no chunk again that an earlier attempt kept, and the
// slot ends up holding the release.
func TestDeltaResumes(t *testing.T) {
	v1, v2 := deltaReleases()
	// More to fetch: the initramfs and half the root are new.
	v2["root.img"] = append(append([]byte(nil), v2["root.img"][:3<<19]...), random(6, 3<<19)...)
	m := newDeltaMachine(t, v1)
	if _, err := m.repo.Publish(deltaRelease(t, "0.2.0", v2), "beta"); err != nil {
		t.Fatal(err)
	}
	cut := func(moment string) update.Attempt {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		u := m.updater()
		u.PauseAt = func() string { return moment }
		a, err := u.Upgrade(ctx, update.Options{}, func(p update.Progress) {
			if p.Stage == "paused" {
				cancel()
			}
		})
		if err == nil || ctx.Err() == nil {
			t.Fatalf("no pause at %s: %v", moment, err)
		}
		return a
	}
	first := cut("download")
	if m.chunkBytes.Load() == 0 || m.chunkBytes.Load() >= first.Fetch {
		t.Fatalf("cut at half the download after %d of %d bytes", m.chunkBytes.Load(), first.Fetch)
	}
	second := cut("write")
	// What the first attempt kept was not fetched again; at most the
	// chunks in flight at the cut were.
	if slack := int64(4 * chunk.Default.Max); m.chunkBytes.Load() > first.Fetch+slack || second.Fetch >= first.Fetch {
		t.Errorf("%d chunk bytes sent for a %d-byte delta; the second attempt set out to fetch %d", m.chunkBytes.Load(), first.Fetch, second.Fetch)
	}
	sent := m.chunkBytes.Load()
	a, err := m.updater().Upgrade(context.Background(), update.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.holds(v2)
	if m.chunkBytes.Load() != sent || a.Fetch != 0 {
		t.Errorf("the last attempt fetched %d bytes (planned %d): everything was cached", m.chunkBytes.Load()-sent, a.Fetch)
	}
}

// A store that lacks a chunk, or does not answer: the update stops with
// the chunk named and the cause, and slot B is not touched.
func TestDeltaBadStore(t *testing.T) {
	v1, v2 := deltaReleases()
	m := newDeltaMachine(t, v1)
	if _, err := m.repo.Publish(deltaRelease(t, "0.2.0", v2), "beta"); err != nil {
		t.Fatal(err)
	}
	before, _ := update.HashFile(m.partition("B"))
	untouched := func() {
		t.Helper()
		if after, _ := update.HashFile(m.partition("B")); after != before {
			t.Fatal("slot B was written")
		}
	}
	gone := newChunk(t, m.repo.Dir, v1["root.img"])
	path := filepath.Join(m.repo.Dir, update.ChunkDir, filepath.FromSlash(chunk.Rel(gone)))
	kept, _ := os.ReadFile(path)
	os.Remove(path)
	_, err := m.updater().Upgrade(context.Background(), update.Options{}, nil)
	if err == nil || !strings.Contains(err.Error(), "chunk "+gone) || !strings.Contains(err.Error(), "does not have it") {
		t.Fatalf("missing chunk: %v", err)
	}
	if a, _, _ := m.updater().Machine.Records.Attempt(); a.Result != update.ResultFailed || !strings.Contains(a.Reason, gone) {
		t.Fatalf("attempt %+v", a)
	}
	untouched()
	os.WriteFile(path, kept, 0o644)

	defer func(d time.Duration) { update.IdleTimeout = d }(update.IdleTimeout)
	update.IdleTimeout = 300 * time.Millisecond
	m.hang.Store(true)
	_, err = m.updater().Upgrade(context.Background(), update.Options{}, nil)
	if err == nil || !strings.Contains(err.Error(), "no answer for 300ms") || !strings.Contains(err.Error(), "3 tries") {
		t.Fatalf("a store that does not answer: %v", err)
	}
	untouched()
	m.hang.Store(false)
	if _, err := m.updater().Upgrade(context.Background(), update.Options{}, nil); err != nil {
		t.Fatalf("once the store answers: %v", err)
	}
	m.holds(v2)
}

// A repository that publishes parts whole: the machine downloads them
// whole, and says so.
func TestWholeRelease(t *testing.T) {
	v1, v2 := deltaReleases()
	m := newDeltaMachine(t, v1)
	m.repo.Whole = true
	if _, err := m.repo.Publish(deltaRelease(t, "0.2.0", v2), "beta"); err != nil {
		t.Fatal(err)
	}
	a, err := m.updater().Upgrade(context.Background(), update.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.holds(v2)
	if a.Downloaded != whole(v2) || a.Fetch != whole(v2) || a.Reused != 0 || m.chunkBytes.Load() != 0 {
		t.Errorf("fetched %d (set out to fetch %d, reused %d, %d as chunks) of a %d-byte release", a.Downloaded, a.Fetch, a.Reused, m.chunkBytes.Load(), whole(v2))
	}
}

// An index whose bytes are not the signed ones is refused at the check;
// one that is not a signed target at all is never read: the parts come
// whole.
func TestIndexMustBeSigned(t *testing.T) {
	v1, v2 := deltaReleases()
	m := newDeltaMachine(t, v1)
	if _, err := m.repo.Publish(deltaRelease(t, "0.2.0", v2), "beta"); err != nil {
		t.Fatal(err)
	}
	idx := filepath.Join(m.repo.Dir, "targets", "releases", "0.2.0", "root.img.idx")
	signed, _ := os.ReadFile(idx)
	// Tampered: a character of the last chunk's hash changed.
	flip(t, idx, bytes.LastIndex(signed, []byte(`"sha256"`))+12)
	before, _ := update.HashFile(m.partition("B"))
	_, err := m.updater().Upgrade(context.Background(), update.Options{}, nil)
	if err == nil || !strings.Contains(err.Error(), "releases/0.2.0/root.img.idx") {
		t.Fatalf("tampered index: %v", err)
	}
	if a, _, _ := m.updater().Machine.Records.Attempt(); a.Stage != "check" || a.Result != update.ResultFailed {
		t.Fatalf("attempt %+v", a)
	}
	if after, _ := update.HashFile(m.partition("B")); after != before || m.chunkBytes.Load() != 0 {
		t.Fatal("a tampered index wrote the slot or fetched chunks")
	}

	// The same release published whole, an index laid beside it unsigned.
	m.repo.Whole = true
	if _, err := m.repo.Publish(deltaRelease(t, "0.3.0", v2), "beta"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(m.repo.Dir, "targets", "releases", "0.3.0", "root.img.idx"), signed, 0o644)
	a, err := m.updater().Upgrade(context.Background(), update.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.chunkBytes.Load() != 0 || a.Reused != 0 {
		t.Errorf("an unsigned index was used: %d chunk bytes fetched, %d reused", m.chunkBytes.Load(), a.Reused)
	}
	m.holds(v2)
}

// keep writes a root index for slot on the machine's ESP, as the image
// builder and the updater keep one.
func (m *deltaMachine) keep(slot string, ix *chunk.Index) {
	m.t.Helper()
	if err := os.WriteFile(filepath.Join(m.dir, "esp", layout.ESPDir(slot), layout.RootIndex), ix.Marshal(), 0o644); err != nil {
		m.t.Fatal(err)
	}
}

func (m *deltaMachine) kept(slot string) []byte {
	b, _ := os.ReadFile(filepath.Join(m.dir, "esp", layout.ESPDir(slot), layout.RootIndex))
	return b
}

// upgradeNoting upgrades and returns what the check said.
func (m *deltaMachine) upgradeNoting() (update.Attempt, string, error) {
	var said []string
	a, err := m.updater().Upgrade(context.Background(), update.Options{}, func(p update.Progress) {
		if p.Total == 0 {
			said = append(said, p.Stage+": "+p.Msg)
		}
	})
	return a, strings.Join(said, "\n"), err
}

// The running slot's kept root index spares reading it whole; an upgrade
// keeps the release's index for the slot it wrote. A kept index that
// does not describe the slot is noticed and the slot is read instead,
// and one wrong where the spot check did not look fails the attempt's
// assembly with the chunk named, and goes: the retry reads the slot.
// A dry run writes nothing on STATE, even where the update would copy
// chunks out of the inactive slot before overwriting it; the upgrade then
// takes them from there.
func TestDryRunWritesNothing(t *testing.T) {
	v1, v2 := deltaReleases()
	m := newDeltaMachine(t, v1)
	if _, err := m.repo.Publish(deltaRelease(t, "0.2.0", v2), "beta"); err != nil {
		t.Fatal(err)
	}
	// Slot B holds 0.2.0's root, shifted: its new chunks are there, not
	// where they belong.
	b := make([]byte, 5<<20)
	copy(b[12345:], v2["root.img"])
	if err := os.WriteFile(m.partition("B"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(m.dir, "esp", layout.ESPDir("B")), 0o755)
	// What STATE holds, but the trusted TUF metadata, which any check
	// brings up to date (a client keeps the newest it saw).
	state := func() []string {
		var files []string
		filepath.WalkDir(filepath.Join(m.dir, "state"), func(p string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
			case d.IsDir() && d.Name() == "metadata":
				return fs.SkipDir
			case !d.IsDir():
				info, _ := d.Info()
				files = append(files, fmt.Sprintf("%s %d %v", p, info.Size(), info.ModTime()))
			}
			return nil
		})
		return files
	}
	before := state()
	a, err := m.updater().Upgrade(context.Background(), update.Options{DryRun: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if after := state(); !slices.Equal(before, after) {
		t.Fatalf("the dry run changed STATE:\nbefore %q\nafter  %q", before, after)
	}
	rootFetch := a.Fetch - int64(len(v2["initrd.img"]))
	if _, err := m.updater().Upgrade(context.Background(), update.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	m.holds(v2)
	if got := m.chunkBytes.Load() - int64(len(v2["initrd.img"])); got > rootFetch || rootFetch > 2*int64(chunk.Default.Max) {
		t.Errorf("the root's chunks: fetched %d, the dry run said %d", got, rootFetch)
	}
}

func TestKeptRootIndex(t *testing.T) {
	v1, v2 := deltaReleases()
	describe := func(b []byte) *chunk.Index {
		ix, err := chunk.Describe("root.img", bytes.NewReader(b), chunk.Default)
		if err != nil {
			t.Fatal(err)
		}
		return ix
	}
	published := func(m *deltaMachine) []byte {
		b, err := os.ReadFile(filepath.Join(m.repo.Dir, "targets", "releases", "0.2.0", "root.img.idx"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const reading = "reading slot A whole"

	t.Run("used and kept", func(t *testing.T) {
		m := newDeltaMachine(t, v1)
		m.repo.Publish(deltaRelease(t, "0.2.0", v2), "beta")
		m.keep("A", describe(v1["root.img"]))
		a, said, err := m.upgradeNoting()
		if err != nil {
			t.Fatal(err)
		}
		m.holds(v2)
		if strings.Contains(said, reading) || a.Reused == 0 {
			t.Errorf("reused %d; the upgrade said:\n%s", a.Reused, said)
		}
		if !bytes.Equal(m.kept("B"), published(m)) {
			t.Error("slot B's kept root index is not the release's")
		}
	})
	t.Run("stale", func(t *testing.T) {
		m := newDeltaMachine(t, v1)
		m.repo.Publish(deltaRelease(t, "0.2.0", v2), "beta")
		m.keep("A", describe(random(9, len(v1["root.img"]))))
		a, said, err := m.upgradeNoting()
		if err != nil {
			t.Fatal(err)
		}
		m.holds(v2)
		if !strings.Contains(said, reading) || a.Reused == 0 {
			t.Errorf("reused %d; the upgrade said:\n%s", a.Reused, said)
		}
		t.Log(said)
	})
	t.Run("wrong where not spot-checked", func(t *testing.T) {
		m := newDeltaMachine(t, v1)
		m.repo.Publish(deltaRelease(t, "0.2.0", v2), "beta")
		ix := describe(v1["root.img"])
		// Chunk 1 said to be one that only 0.2.0 has: never fetched,
		// and not where the index puts it.
		ix.Chunks[1].SHA256 = newChunk(t, m.repo.Dir, v1["root.img"])
		m.keep("A", ix)
		_, said, err := m.upgradeNoting()
		if !errors.Is(err, chunk.ErrStaleIndex) || !strings.Contains(err.Error(), ix.Chunks[1].SHA256) {
			t.Fatalf("upgrade: %v, want the chunk named\n%s", err, said)
		}
		t.Log(err)
		if m.kept("A") != nil {
			t.Error("the wrong kept index is still there")
		}
		if _, _, err := m.upgradeNoting(); err != nil {
			t.Fatal(err)
		}
		m.holds(v2)
	})
	t.Run("wrong in the inactive slot", func(t *testing.T) {
		m := newDeltaMachine(t, v1)
		m.repo.Publish(deltaRelease(t, "0.2.0", v2), "beta")
		m.keep("A", describe(v1["root.img"]))
		// Slot B holds 0.2.0's root and its index, but chunk 1 changed
		// behind the index's back: the plan counts it in place.
		b := make([]byte, 5<<20)
		copy(b, v2["root.img"])
		ix := describe(v2["root.img"])
		b[ix.Offsets()[1]] ^= 1
		if err := os.WriteFile(m.partition("B"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(m.dir, "esp", layout.ESPDir("B")), 0o755)
		m.keep("B", ix)
		_, said, err := m.upgradeNoting()
		if !errors.Is(err, chunk.ErrStaleIndex) || !strings.Contains(err.Error(), ix.Chunks[1].SHA256) || !strings.Contains(err.Error(), "slot B") {
			t.Fatalf("upgrade: %v, want the chunk and slot B named\n%s", err, said)
		}
		t.Log(err)
		if m.kept("A") == nil {
			t.Error("slot A's kept index went, though slot B's was at fault")
		}
		if m.kept("B") != nil {
			t.Error("slot B's stale index is still there")
		}
		if _, said, err := m.upgradeNoting(); err != nil {
			t.Fatalf("retry: %v\n%s", err, said)
		}
		m.holds(v2)
	})
	t.Run("a whole release leaves none", func(t *testing.T) {
		m := newDeltaMachine(t, v1)
		m.repo.Whole = true
		m.repo.Publish(deltaRelease(t, "0.2.0", v2), "beta")
		os.MkdirAll(filepath.Join(m.dir, "esp", layout.ESPDir("B")), 0o755)
		m.keep("B", describe(v1["root.img"])) // what B held before
		if _, said, err := m.upgradeNoting(); err != nil {
			t.Fatalf("%v\n%s", err, said)
		}
		m.holds(v2)
		if m.kept("B") != nil {
			t.Error("slot B's kept index outlived the write of another release")
		}
	})
	t.Run("a slot never written is not read", func(t *testing.T) {
		m := newDeltaMachine(t, v1)
		m.repo.Publish(deltaRelease(t, "0.2.0", v2), "beta")
		// Slot B has no record and no ESP directory: a new machine's.
		// Without its partition, a plan that opened it would fail.
		if err := os.Remove(m.partition("B")); err != nil {
			t.Fatal(err)
		}
		a, err := m.updater().Upgrade(context.Background(), update.Options{DryRun: true}, nil)
		if err != nil || a.Reused == 0 {
			t.Fatalf("dry run: %v (reused %d)", err, a.Reused)
		}
	})
}
