package publish_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"berth.dev/berth/update"
	"berth.dev/berth/update/publish"
	"berth.dev/berth/update/publish/publishtest"
)

func TestReleaseCommand(t *testing.T) {
	dir := t.TempDir()
	keys, repo := filepath.Join(dir, "keys"), filepath.Join(dir, "repo")
	run := func(want int, args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if code := publish.ReleaseMain(args, &out, &out); code != want {
			t.Fatalf("berth-release %v: exit %d, want %d\n%s", args, code, want, out.String())
		}
		return out.String()
	}
	run(0, "init", "--keys", keys)
	if out := run(1, "init", "--keys", keys); !strings.Contains(out, "refusing to replace") {
		t.Errorf("second init: %s", out)
	}
	if out := run(1, "publish", "--keys", keys, "--repo", repo, publishtest.FakeRelease(t, "0.2.0")); !strings.Contains(out, "--channel is missing") {
		t.Errorf("publish without a channel: %s", out)
	}
	if out := run(0, "publish", "--keys", keys, "--repo", repo, "--channel", "stable", publishtest.FakeRelease(t, "0.2.0")); !strings.Contains(out, "channel stable → 0.2.0") {
		t.Errorf("publish: %s", out)
	}
	run(0, "publish", "--keys", keys, "--repo", repo, "--channel", "beta", publishtest.FakeRelease(t, "0.3.0"))
	run(0, "promote", "--keys", keys, "--repo", repo, "--channel", "stable", "--version", "0.3.0")
	// 0.2.0 is on no channel now: its three parts' chunks go.
	if out := run(0, "gc", "--repo", repo); !strings.Contains(out, "removed 3 chunks") || !strings.Contains(out, "; 3 kept") {
		t.Errorf("gc: %s", out)
	}
	if out := run(0, "rotate", "--keys", keys, "--repo", repo, "--role", "timestamp"); !strings.Contains(out, "timestamp key replaced") {
		t.Errorf("rotate: %s", out)
	}
	if out := run(2, "frobnicate"); !strings.Contains(out, "usage: berth-release") {
		t.Errorf("unknown command: %s", out)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(repo)))
	defer srv.Close()
	// The machine trusts the root the image was built with: version 1.
	root, _ := os.ReadFile(filepath.Join(repo, "metadata", "1.root.json"))
	o, err := update.Check(context.Background(), update.Source{Server: srv.URL, Channel: "stable", Root: root, MetadataDir: t.TempDir()}, "")
	if err != nil || o.Version != "0.3.0" {
		t.Fatalf("stable after promote: %v %v", o.Version, err)
	}
}
