package publish_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"berth.dev/berth/internal/copyfile"
	"berth.dev/berth/update"
	"berth.dev/berth/update/chunk"
	"berth.dev/berth/update/publish"
	"berth.dev/berth/update/publish/publishtest"
)

func TestChannelsPublishPromoteAndDownload(t *testing.T) {
	r := publishtest.NewRepo(t)
	publishtest.MustPublish(t, r, "0.2.0", "beta")
	publishtest.MustPublish(t, r, "0.3.0", "alpha")
	state := t.TempDir()

	o, err := update.Check(context.Background(), r.Source("beta", state), "")
	if err != nil {
		t.Fatal(err)
	}
	if o.Version != "0.2.0" || o.Parts["root.img"].Length != int64(len("root.img of 0.2.0\n")*1000) {
		t.Fatalf("beta offers %+v", o)
	}
	out := filepath.Join(t.TempDir(), "root.img")
	if err := update.Download(context.Background(), http.DefaultClient, o.Parts["root.img"], out, 2, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); !strings.HasPrefix(string(b), "root.img of 0.2.0") {
		t.Errorf("downloaded %q…", b[:20])
	}
	// Switching the channel picks the other channel's release.
	if o, err := update.Check(context.Background(), r.Source("alpha", state), ""); err != nil || o.Version != "0.3.0" {
		t.Fatalf("alpha: %v %v", o.Version, err)
	}
	// Promote: beta now points at 0.3.0 too.
	if err := r.Promote("0.3.0", "beta"); err != nil {
		t.Fatal(err)
	}
	if o, err := update.Check(context.Background(), r.Source("beta", state), ""); err != nil || o.Version != "0.3.0" {
		t.Fatalf("beta after promote: %v %v", o.Version, err)
	}
	if err := r.Promote("9.9.9", "beta"); err == nil || !strings.Contains(err.Error(), "no release 9.9.9") {
		t.Errorf("promote of a missing release: %v", err)
	}
	// A given version, and refusals.
	if o, err := update.Check(context.Background(), r.Source("beta", state), "0.2.0"); err != nil || o.Version != "0.2.0" {
		t.Fatalf("--version 0.2.0: %v %v", o.Version, err)
	}
	if _, err := update.Check(context.Background(), r.Source("nightly", state), ""); err == nil || !strings.Contains(err.Error(), `is "nightly" a channel`) {
		t.Errorf("unknown channel: %v", err)
	}
	src := r.Source("beta", state)
	src.Arch = "arm64"
	if _, err := update.Check(context.Background(), src, ""); err == nil || !strings.Contains(err.Error(), "is for amd64, this machine is arm64") {
		t.Errorf("wrong architecture: %v", err)
	}
}

// A part changed on the server is refused against the signed hash, and
// nothing is left in place.
func TestTamperedPartRefused(t *testing.T) {
	r := publishtest.NewRepo(t)
	publishtest.MustPublish(t, r, "0.2.0", "beta")
	o, err := update.Check(context.Background(), r.Source("beta", t.TempDir()), "")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(r.Dir, "targets", "releases", "0.2.0", "root.img")
	b, _ := os.ReadFile(p)
	b[0] ^= 1
	os.WriteFile(p, b, 0o644)
	out := filepath.Join(t.TempDir(), "root.img")
	err = update.Download(context.Background(), http.DefaultClient, o.Parts["root.img"], out, 1, nil)
	if err == nil || !strings.Contains(err.Error(), "tampered with or damaged") {
		t.Fatalf("tampered part: %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("the tampered part was kept")
	}
}

// Metadata signed two days ago has an expired timestamp: a frozen mirror.
func TestExpiredMetadataRefused(t *testing.T) {
	r := publishtest.NewRepo(t)
	r.Now = func() time.Time { return time.Now().Add(-48 * time.Hour) }
	publishtest.MustPublish(t, r, "0.2.0", "beta")
	_, err := update.Check(context.Background(), r.Source("beta", t.TempDir()), "")
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired timestamp: %v", err)
	}
	// berth-release refresh, with the timestamp key alone, makes the
	// repository fresh again without publishing anything.
	r.Now = nil
	os.Remove(filepath.Join(r.Keys, "root.key"))
	os.Remove(filepath.Join(r.Keys, "targets.key"))
	what, err := r.Refresh(false)
	if err != nil || !strings.HasPrefix(what, "timestamp ") {
		t.Fatalf("refresh: %q %v", what, err)
	}
	if o, err := update.Check(context.Background(), r.Source("beta", t.TempDir()), ""); err != nil || o.Version != "0.2.0" {
		t.Fatalf("after refresh: %v %v", o.Version, err)
	}
	if what, err := r.Refresh(true); err != nil || !strings.HasPrefix(what, "snapshot ") {
		t.Fatalf("refresh --snapshot: %q %v", what, err)
	}
	if o, err := update.Check(context.Background(), r.Source("beta", t.TempDir()), ""); err != nil || o.Version != "0.2.0" {
		t.Fatalf("after refresh --snapshot: %v %v", o.Version, err)
	}
}

// Once a machine has seen newer metadata, a mirror serving the older
// repository is refused (no rollback to older metadata).
func TestMetadataRollbackRefused(t *testing.T) {
	r := publishtest.NewRepo(t)
	publishtest.MustPublish(t, r, "0.2.0", "beta")
	old := filepath.Join(t.TempDir(), "old")
	if out, err := exec.Command("cp", "-a", r.Dir, old).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	publishtest.MustPublish(t, r, "0.3.0", "beta")
	state := t.TempDir()
	if o, err := update.Check(context.Background(), r.Source("beta", state), ""); err != nil || o.Version != "0.3.0" {
		t.Fatalf("%v %v", o.Version, err)
	}
	stale := httptest.NewServer(http.FileServer(http.Dir(old)))
	defer stale.Close()
	src := r.Source("beta", state)
	src.Server = stale.URL
	_, err := update.Check(context.Background(), src, "")
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("older metadata: %v", err)
	}
}

// A repository signed with keys the machine does not trust is refused.
func TestUntrustedKeysRefused(t *testing.T) {
	r := publishtest.NewRepo(t)
	publishtest.MustPublish(t, r, "0.2.0", "beta")
	other := publishtest.NewRepo(t)
	src := r.Source("beta", t.TempDir())
	src.Root = other.Root
	if _, err := update.Check(context.Background(), src, ""); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("foreign keys: %v", err)
	}
}

func TestDowngrade(t *testing.T) {
	for _, tc := range []struct {
		a, b  string
		newer bool
	}{{"0.10.0", "0.9.1", true}, {"0.9.1", "0.10.0", false}, {"1.0", "1.0.0", false}, {"1.0.1", "1.0", true}, {"0.2.0", "0.2.0", false}} {
		if got := update.Newer(tc.a, tc.b); got != tc.newer {
			t.Errorf("Newer(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
	if err := update.Allowed("0.3.0", "0.2.0", false); err == nil || !strings.Contains(err.Error(), "needs --allow-downgrade") {
		t.Errorf("downgrade: %v", err)
	}
	if err := update.Allowed("0.3.0", "0.2.0", true); err != nil {
		t.Errorf("downgrade with the flag: %v", err)
	}
	if err := update.Allowed("0.3.0", "0.3.0", false); err == nil || !strings.Contains(err.Error(), "nothing to do") {
		t.Errorf("same version: %v", err)
	}
	if err := update.Allowed("0.2.0", "0.3.0", false); err != nil {
		t.Errorf("upgrade: %v", err)
	}
}

// Keys rotate without reinstalling: machines that trust the first root
// follow the new root versions, and what the retired key signs is refused.
func TestKeyRotation(t *testing.T) {
	r := publishtest.NewRepo(t)
	publishtest.MustPublish(t, r, "0.2.0", "beta")
	state := t.TempDir()
	if _, err := update.Check(context.Background(), r.Source("beta", state), ""); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(t.TempDir(), "old-keys")
	if out, err := exec.Command("cp", "-a", r.Keys, old).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	for _, role := range []string{"targets", "root"} {
		if err := r.Rotate(role); err != nil {
			t.Fatalf("rotate %s: %v", role, err)
		}
	}
	if err := r.Rotate("nobody"); err == nil || !strings.Contains(err.Error(), "not a role") {
		t.Errorf("rotate nobody: %v", err)
	}
	publishtest.MustPublish(t, r, "0.3.0", "beta")
	// A machine that checked before, and a new one: both trust root v1.
	for _, st := range []string{state, t.TempDir()} {
		if o, err := update.Check(context.Background(), r.Source("beta", st), ""); err != nil || o.Version != "0.3.0" {
			t.Fatalf("after rotation: %v %v", o.Version, err)
		}
	}
	// The retired targets key signs a release: refused.
	stale := publish.Repo{Dir: r.Dir, Keys: old}
	for _, f := range []string{"root.json", "targets.key.old"} {
		os.Remove(filepath.Join(old, f))
	}
	copyfile.Copy(filepath.Join(r.Keys, "root.json"), filepath.Join(old, "root.json"))
	copyfile.Copy(filepath.Join(r.Keys, "snapshot.key"), filepath.Join(old, "snapshot.key"))
	copyfile.Copy(filepath.Join(r.Keys, "timestamp.key"), filepath.Join(old, "timestamp.key"))
	if _, err := stale.Publish(publishtest.FakeRelease(t, "0.4.0"), "beta"); err != nil {
		t.Fatal(err)
	}
	if _, err := update.Check(context.Background(), r.Source("beta", t.TempDir()), ""); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("targets signed by the retired key: %v", err)
	}
}

// A machine that has followed a root rotation trusts the new root, not the
// one its image carries: a 2.root.json signed with the retired root key
// (kept by someone who should no longer sign) is not a way back in.
func TestRetiredRootKeyRefused(t *testing.T) {
	r := publishtest.NewRepo(t)
	publishtest.MustPublish(t, r, "0.2.0", "beta")
	state := t.TempDir()
	if _, err := update.Check(context.Background(), r.Source("beta", state), ""); err != nil {
		t.Fatal(err)
	}
	retired := filepath.Join(t.TempDir(), "retired-keys")
	if out, err := exec.Command("cp", "-a", r.Keys, retired).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if err := r.Rotate("root"); err != nil {
		t.Fatal(err)
	}
	publishtest.MustPublish(t, r, "0.3.0", "beta")
	if o, err := update.Check(context.Background(), r.Source("beta", state), ""); err != nil || o.Version != "0.3.0" {
		t.Fatalf("after rotation: %v %v", o.Version, err)
	}
	// The holder of the retired root key forks the repository: a root
	// version 2 of its own, trusting its own targets key, and a release.
	forged := filepath.Join(t.TempDir(), "forged")
	if out, err := exec.Command("cp", "-a", r.Dir, forged).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	evil := publish.Repo{Dir: forged, Keys: retired}
	if err := evil.Rotate("targets"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ { // versions past what the machine has seen
		if _, err := evil.Publish(publishtest.FakeRelease(t, fmt.Sprintf("0.9.%d", i)), "beta"); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(forged)))
	defer srv.Close()
	src := r.Source("beta", state)
	src.Server = srv.URL
	o, err := update.Check(context.Background(), src, "")
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("the retired root key's release was taken: %v %v", o.Version, err)
	}
}

// A rotation cut short at any step leaves the repository serving what it
// served, refuses publish and refresh until it is finished, and is
// finished by running rotate again (issue 15.10: rotate was not atomic).
func TestRotationCutShort(t *testing.T) {
	for _, step := range []string{"staged", "published"} {
		t.Run(step, func(t *testing.T) {
			r := publishtest.NewRepo(t)
			publishtest.MustPublish(t, r, "0.2.0", "beta")
			state := t.TempDir()
			if _, err := update.Check(context.Background(), r.Source("beta", state), ""); err != nil {
				t.Fatal(err)
			}
			restore := publish.SetCrashPoint(step, errors.New("power cut"))
			if err := r.Rotate("targets"); err == nil {
				t.Fatal("rotate went through the crash")
			}
			restore()
			// Machines still update meanwhile.
			if o, err := update.Check(context.Background(), r.Source("beta", state), ""); err != nil || o.Version != "0.2.0" {
				t.Fatalf("during the cut rotation: %v %v", o.Version, err)
			}
			if _, err := r.Publish(publishtest.FakeRelease(t, "0.3.0"), "beta"); err == nil || !strings.Contains(err.Error(), "rotation of the targets key was cut short") {
				t.Fatalf("publish during the cut rotation: %v", err)
			}
			if err := r.Rotate("snapshot"); err == nil || !strings.Contains(err.Error(), "--role targets to finish it") {
				t.Fatalf("another rotation: %v", err)
			}
			if err := r.Rotate("targets"); err != nil {
				t.Fatalf("finishing: %v", err)
			}
			publishtest.MustPublish(t, r, "0.3.0", "beta")
			for _, st := range []string{state, t.TempDir()} {
				if o, err := update.Check(context.Background(), r.Source("beta", st), ""); err != nil || o.Version != "0.3.0" {
					t.Fatalf("after the rotation: %v %v", o.Version, err)
				}
			}
			if stray, _ := filepath.Glob(filepath.Join(r.Keys, "*.new")); len(stray) > 0 {
				t.Fatalf("left behind: %v", stray)
			}
		})
	}
}

// Root keys apart from the online ones, two of three needed: publishing
// and refreshing need none of them, rotating needs two, and with one at
// hand it is refused and nothing changes.
func TestRootKeysOfflineWithThreshold(t *testing.T) {
	dir := t.TempDir()
	keys, rootKeys := filepath.Join(dir, "keys"), filepath.Join(dir, "offline")
	if err := publish.InitKeysWith(keys, time.Now(), publish.KeyOptions{RootKeys: rootKeys, Threshold: 2, Count: 3}); err != nil {
		t.Fatal(err)
	}
	if ks, _ := filepath.Glob(filepath.Join(keys, "*.key")); len(ks) != 3 {
		t.Fatalf("online keys: %v", ks)
	}
	rootJSON, _ := os.ReadFile(filepath.Join(keys, "root.json"))
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(dir, "repo"))))
	defer srv.Close()
	r := publish.Repo{Dir: filepath.Join(dir, "repo"), Keys: keys, RootKeys: rootKeys}
	src := update.Source{Server: srv.URL, Channel: "beta", Root: rootJSON, MetadataDir: t.TempDir(), Arch: "amd64"}
	// The root keys go offline.
	offline := filepath.Join(dir, "usb-stick")
	if err := os.Rename(rootKeys, offline); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(publishtest.FakeRelease(t, "0.2.0"), "beta"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Refresh(true); err != nil {
		t.Fatal(err)
	}
	if o, err := update.Check(context.Background(), src, ""); err != nil || o.Version != "0.2.0" {
		t.Fatalf("%v %v", o.Version, err)
	}
	r.RootKeys = offline
	os.Remove(filepath.Join(offline, "root-3.key"))
	if err := r.Rotate("targets"); err != nil {
		t.Fatalf("rotate with 2 of 3 root keys: %v", err)
	}
	os.Remove(filepath.Join(offline, "root-2.key"))
	before, _ := os.ReadFile(filepath.Join(keys, "root.json"))
	if err := r.Rotate("timestamp"); err == nil || !strings.Contains(err.Error(), "1 of the root keys of version 2 are at hand, it needs 2") {
		t.Fatalf("rotate with 1 of 3: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(keys, "root.json")); !bytes.Equal(before, after) {
		t.Fatal("a refused rotation changed root.json")
	}
	if _, err := r.Publish(publishtest.FakeRelease(t, "0.3.0"), "beta"); err != nil {
		t.Fatalf("publish after a refused rotation: %v", err)
	}
	if o, err := update.Check(context.Background(), src, ""); err != nil || o.Version != "0.3.0" {
		t.Fatalf("%v %v", o.Version, err)
	}
}

// A release whose verity data blocks run past its root image would send
// stage 1 reading past the slot: publish refuses it. (A machine's check
// refuses it too, against the signed length of root.img.)
func TestVerityOutsideTheRootRefused(t *testing.T) {
	r := publishtest.NewRepo(t)
	dir := publishtest.FakeRelease(t, "0.2.0")
	rel, err := update.ReadRelease(filepath.Join(dir, "release.json"))
	if err != nil {
		t.Fatal(err)
	}
	rel.Verity.DataBlocks = 1000
	rel.WriteJSON(filepath.Join(dir, "release.json"))
	if _, err := r.Publish(dir, "beta"); err == nil || !strings.Contains(err.Error(), "verity: 1000 data blocks end at byte 4096000, past root.img's 18000 bytes") {
		t.Fatalf("publish: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "root.img"), make([]byte, 5<<20), 0o644)
	if _, err := r.Publish(dir, "beta"); err != nil {
		t.Fatalf("publish with room for the tree: %v", err)
	}
	if o, err := update.Check(context.Background(), r.Source("beta", t.TempDir()), ""); err != nil || o.Verity == nil || o.Verity.DataBlocks != 1000 {
		t.Fatalf("check: %+v %v", o.Verity, err)
	}
}

// Every part is published with its chunk index as a signed target and its
// chunks in the store; gc keeps what the channels' releases use and
// removes the rest.
func TestChunksPublishedAndCollected(t *testing.T) {
	r := publishtest.NewRepo(t)
	publishtest.MustPublish(t, r, "0.2.0", "beta")
	publishtest.MustPublish(t, r, "0.3.0", "alpha")
	targets, err := metadata.Targets().FromFile(filepath.Join(r.Dir, "metadata", "targets.json"))
	if err != nil {
		t.Fatal(err)
	}
	store := chunk.Store{Dir: filepath.Join(r.Dir, update.ChunkDir)}
	chunksOf := map[string][]string{}
	for _, v := range []string{"0.2.0", "0.3.0"} {
		rel, err := update.ReadRelease(filepath.Join(r.Dir, "targets", "releases", v, "release.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range update.PartNames {
			name := "releases/" + v + "/" + update.IndexName(part)
			if _, ok := targets.Signed.Targets[name]; !ok {
				t.Fatalf("%s is not a signed target", name)
			}
			b, _ := os.ReadFile(filepath.Join(r.Dir, "targets", name))
			ix, err := chunk.Parse(name, b)
			if err != nil {
				t.Fatal(err)
			}
			if ix.SHA256 != rel.Parts[part].SHA256 || ix.Size != rel.Parts[part].Size {
				t.Errorf("%s describes %d bytes %s; the part is %+v", name, ix.Size, ix.SHA256, rel.Parts[part])
			}
			for _, c := range ix.Chunks {
				if _, err := os.Stat(store.Path(c.SHA256)); err != nil {
					t.Errorf("%s: chunk missing: %v", name, err)
				}
				chunksOf[v] = append(chunksOf[v], c.SHA256)
			}
		}
	}
	// A cut publish's leftover goes too.
	os.WriteFile(store.Path(chunksOf["0.2.0"][0])+".tmp", []byte("half"), 0o644)
	if n, _, kept, err := r.GC(); err != nil || n != 1 || kept != len(chunksOf["0.2.0"])+len(chunksOf["0.3.0"]) {
		t.Fatalf("gc with both releases on channels: removed %d, kept %d, %v", n, kept, err)
	}
	if err := r.Promote("0.3.0", "beta"); err != nil {
		t.Fatal(err)
	}
	removed, freed, kept, err := r.GC()
	if err != nil || removed != len(chunksOf["0.2.0"]) || freed == 0 || kept != len(chunksOf["0.3.0"]) {
		t.Fatalf("gc after 0.2.0 left every channel: removed %d (%d bytes), kept %d, %v", removed, freed, kept, err)
	}
	for _, sum := range chunksOf["0.2.0"] {
		if _, err := os.Stat(store.Path(sum)); err == nil {
			t.Errorf("chunk %s of 0.2.0 is still there", sum)
		}
	}
	for _, sum := range chunksOf["0.3.0"] {
		if _, err := os.Stat(store.Path(sum)); err != nil {
			t.Errorf("chunk %s of 0.3.0: %v", sum, err)
		}
	}
}
