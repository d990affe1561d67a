package osctl

import (
	"context"
	"errors"
	"strings"
	"testing"

	"berth.dev/berth/sysd/logs"
	"berth.dev/berth/update"
)

// fakeUpdates answers like the updater: a canned run, busy on request.
type fakeUpdates struct {
	busy    bool
	opt     update.Options
	channel string
}

func (f *fakeUpdates) Status() update.Status {
	return update.Status{Channel: f.channel, From: "os-ctl channel set", Strategy: "off",
		Slots: []update.SlotStatus{{Slot: "A", Version: "0.1.0", State: "good"}, {Slot: "B", Version: "0.3.0", State: "failed"}},
		Last: &update.Attempt{Kind: "upgrade", From: update.SlotRelease{Slot: "A", Version: "0.1.0"}, To: update.SlotRelease{Slot: "B", Version: "0.3.0"}, Stage: "health", Result: update.ResultRolledBack, Reason: "docker.service not healthy within 120s",
			Fetch: 5 << 20, Downloaded: 5 << 20, Reused: 200 << 20}}
}

func (f *fakeUpdates) Upgrade(ctx context.Context, opt update.Options, report func(update.Progress)) (update.Attempt, error) {
	if f.busy {
		return update.Attempt{}, update.ErrBusy
	}
	f.opt = opt
	report(update.Progress{Stage: "check", Msg: "release 0.2.0"})
	for _, d := range []int64{10, 50, 100} {
		report(update.Progress{Stage: "download", Msg: "root.img", Done: d << 20, Total: 100 << 20, Reused: 150 << 20})
	}
	if opt.Version == "9.9.9" {
		return update.Attempt{}, errors.New("check: no release 9.9.9")
	}
	if opt.DryRun {
		return update.Attempt{To: update.SlotRelease{Slot: "B", Version: "0.2.0"}, Fetch: 100 << 20, Reused: 150 << 20}, nil
	}
	return update.Attempt{To: update.SlotRelease{Slot: "B", Version: "0.2.0"}, Result: update.ResultInstalled}, nil
}

func (f *fakeUpdates) Rollback() (update.SlotRelease, error) {
	return update.SlotRelease{}, errors.New("rollback: slot B (0.3.0) is failed and never passed the health gate: refusing to boot it")
}

func (f *fakeUpdates) SetChannel(name string) error {
	if err := update.ValidChannel(name); err != nil {
		return err
	}
	f.channel = name
	return nil
}

func TestUpgradeCommands(t *testing.T) {
	up := &fakeUpdates{channel: "beta"}
	sock := serveAPI(t, &fake{log: logs.New("", 1, 0)}, &sys{}, up)
	run := runner(sock)

	code, out, _ := run("upgrade", "--no-reboot", "--channel", "alpha")
	if code != 0 || !up.opt.NoReboot || up.opt.Channel != "alpha" ||
		!strings.Contains(out, "check: release 0.2.0\n") || !strings.Contains(out, "download root.img: 50% (50.0/100.0 MiB, 150.0 MiB reused)\n") ||
		!strings.Contains(out, "0.2.0 installed in slot B; it boots at the next reboot") {
		t.Fatalf("code %d:\n%s", code, out)
	}
	if code, out, _ := run("upgrade", "--dry-run"); code != 0 || !strings.Contains(out, "would install 0.2.0 into slot B (dry run): would fetch 100.0M, reuse 150.0M from this machine\n") {
		t.Fatalf("dry run %d:\n%s", code, out)
	}
	if code, _, e := run("upgrade", "--version", "9.9.9"); code != 1 || e != "os-ctl: upgrade: check: no release 9.9.9\n" {
		t.Fatalf("failure: %d %q", code, e)
	}
	up.busy = true
	if code, _, e := run("upgrade"); code != 1 || !strings.Contains(e, "an update is already running") {
		t.Fatalf("busy: %d %q", code, e)
	}
	if code, _, e := run("rollback"); code != 1 || !strings.Contains(e, "never passed the health gate") {
		t.Fatalf("rollback: %d %q", code, e)
	}
	if code, out, _ := run("channel", "set", "alpha"); code != 0 || up.channel != "alpha" || !strings.Contains(out, "alpha") {
		t.Fatalf("channel set: %d %s", code, out)
	}
	if code, _, e := run("channel", "set", "../x"); code != 1 || !strings.Contains(e, "plain name") {
		t.Fatalf("bad channel: %d %q", code, e)
	}
	if code, out, _ := run("channel"); code != 0 || out != "alpha (os-ctl channel set)\n" {
		t.Fatalf("channel: %d %q", code, out)
	}
	code, out, _ = run("status")
	if code != 0 || !strings.Contains(out, "other slot:   B: 0.3.0, failed") ||
		!strings.Contains(out, "rolled back (stage health): docker.service not healthy within 120s (fetched 5.0M, reused 200.0M)") {
		t.Fatalf("status %d:\n%s", code, out)
	}
}
