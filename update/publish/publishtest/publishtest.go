// Package publishtest makes release repositories for tests of the updater
// and the publisher: a repository with its keys, served over HTTP, and
// small fake releases published into it.
package publishtest

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/internal/layout"

	"berth.dev/berth/update"
	"berth.dev/berth/update/publish"
)

// FakeRelease writes a release directory as make image does, with small
// parts whose content names the version.
func FakeRelease(t testing.TB, version string) string {
	t.Helper()
	dir := t.TempDir()
	r := update.Release{Version: version, Architecture: "amd64", Parts: map[string]update.Part{}}
	for _, name := range update.PartNames {
		data := []byte(strings.Repeat(name+" of "+version+"\n", 1000))
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		r.Parts[name] = update.Part{Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	}
	v := FakeVerity(version)
	r.Verity = &v
	r.KernelArgs = FakeArgs(version)
	if err := r.WriteJSON(filepath.Join(dir, "release.json")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// FakeVerity is the root hash FakeRelease gives version: no real tree,
// but what the updater must carry into the slot's boot entry.
func FakeVerity(version string) layout.Verity {
	sum := sha256.Sum256([]byte(version))
	return layout.Verity{DataBlocks: 1, RootHash: hex.EncodeToString(sum[:]), Salt: "00"}
}

// FakeArgs are the kernel arguments FakeRelease gives version: Berth's,
// and one that names the release, which its slot's entry must carry.
func FakeArgs(version string) []string {
	return append(append([]string(nil), layout.KernelArgs...), "fake.release="+version)
}

// Repo is a repository served by a test HTTP server.
type Repo struct {
	publish.Repo
	Srv  *httptest.Server
	Root []byte // the trusted root.json
}

// NewRepo makes keys and an empty repository, served over HTTP.
func NewRepo(t testing.TB) *Repo {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "keys")
	if err := publish.InitKeys(keys, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := publish.InitKeys(keys, time.Now()); err == nil || !strings.Contains(err.Error(), "refusing to replace") {
		t.Errorf("a second init: %v", err)
	}
	root, err := os.ReadFile(filepath.Join(keys, "root.json"))
	if err != nil {
		t.Fatal(err)
	}
	r := &Repo{Repo: publish.Repo{Dir: filepath.Join(t.TempDir(), "repo"), Keys: keys}, Root: root}
	// Any static file server does: the repository is plain files.
	r.Srv = httptest.NewServer(http.FileServer(http.Dir(r.Dir)))
	t.Cleanup(r.Srv.Close)
	return r
}

// Source is the device's view of the repository: channel, and state as
// the directory its TUF metadata is kept in.
func (r *Repo) Source(channel, state string) update.Source {
	return update.Source{Server: r.Srv.URL, Channel: channel, Root: r.Root, MetadataDir: state, Arch: "amd64"}
}

// MustPublish publishes a fake release of version on channel.
func MustPublish(t testing.TB, r *Repo, version, channel string) {
	t.Helper()
	if v, err := r.Publish(FakeRelease(t, version), channel); err != nil || v != version {
		t.Fatalf("publish %s: %q %v", version, v, err)
	}
}
