package osctl

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/install"
	"berth.dev/berth/sysd/logs"
	"berth.dev/berth/update"
)

// fakeInstaller refuses /dev/vdb as the real one refuses a disk with
// partitions, and "installs" on /dev/vda.
type fakeInstaller struct{ got wire.InstallRequest }

func (f *fakeInstaller) Install(ctx context.Context, req wire.InstallRequest, report func(update.Progress)) (wire.InstallResult, error) {
	f.got = req
	if req.Disk == "/dev/vdb" {
		return wire.InstallResult{}, &install.Refusal{Disk: "/dev/vdb", Reason: "holds partitions (vdb1 photos)", Forcible: true}
	}
	report(update.Progress{Stage: "disk", Msg: "installing Berth 0.1.0 on /dev/vda (8.0 GiB)"})
	report(update.Progress{Stage: "write", Msg: "slot A /dev/vda2", Done: 1 << 20, Total: 4 << 20})
	report(update.Progress{Stage: "write", Msg: "slot A /dev/vda2", Done: 4 << 20, Total: 4 << 20})
	return wire.InstallResult{Disk: "/dev/vda", Version: "0.1.0", Wrote: []string{"partition table", "ESP", "slot A", "STATE"}}, nil
}

func TestInstallCommand(t *testing.T) {
	in := &fakeInstaller{}
	s := &sys{}
	run := runner(serveAPI(t, &fake{log: logs.New("", 1, 0)}, s, nil, in))
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("#cloud-config\nhostname: h\n"), 0o644)
	os.WriteFile(bad, []byte("#cloud-config\nhostname: [1, 2]\n"), 0o644)

	if code, _, e := run("install"); code != 1 || !strings.Contains(e, "give the disk") {
		t.Errorf("no --disk: %d %q", code, e)
	}
	// Bad user-data is found before anything is asked of sysd.
	if code, _, e := run("install", "--disk", "/dev/vda", "--user-data", bad); code != 1 || !strings.Contains(e, "bad.yaml has 1 errors") || in.got.Disk != "" {
		t.Errorf("bad user-data: %d %q, sysd asked for %+v", code, e, in.got)
	}
	if code, _, e := run("install", "--disk", "/dev/vdb"); code != 1 || !strings.Contains(e, "/dev/vdb holds partitions (vdb1 photos): not touched (--force") {
		t.Errorf("refusal: %d %q", code, e)
	}
	code, out, e := run("install", "--disk", "/dev/vda", "--user-data", good, "--reboot")
	if code != 0 || !strings.Contains(out, "disk: installing Berth 0.1.0 on /dev/vda") || !strings.Contains(out, "write slot A /dev/vda2: 100%") || !strings.HasSuffix(out, "installed; rebooting\n") {
		t.Fatalf("install: %d\n%s\n%s", code, out, e)
	}
	if string(in.got.UserData) != "#cloud-config\nhostname: h\n" || !in.got.Reboot {
		t.Errorf("sysd was asked %+v", in.got)
	}
	for deadline := time.Now().Add(5 * time.Second); !s.rebooted.Load(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("--reboot: no reboot after the install")
		}
	}
}

// A machine that booted from its disk has no installer.
func TestInstallOffTheLiveSystem(t *testing.T) {
	run := runner(serveAPI(t, &fake{log: logs.New("", 1, 0)}, &sys{}, nil))
	if code, _, e := run("install", "--disk", "/dev/vda"); code != 1 || !strings.Contains(e, "install runs on the installer medium's live system") {
		t.Errorf("%d %q", code, e)
	}
}
