package update

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"berth.dev/berth/internal/atomicfile"
	"berth.dev/berth/internal/layout"
	"berth.dev/berth/update/chunk"
)

// Machine is the running system as the updater sees it.
type Machine struct {
	Slot, Version string // running
	Records       Records
	ESP           string // where the ESP is mounted, read-write
	// Partition returns the device of a slot's ROOT partition.
	Partition func(slot string) (string, error)
	Reboot    func() error
}

// Options are os-ctl upgrade's flags.
type Options struct {
	Channel        string `json:"channel,omitempty"` // this once; os-ctl channel set persists one
	Version        string `json:"version,omitempty"` // a release instead of the channel's
	AllowDowngrade bool   `json:"allow_downgrade,omitempty"`
	DryRun         bool   `json:"dry_run,omitempty"`
	NoReboot       bool   `json:"no_reboot,omitempty"`
	DownloadOnly   bool   `json:"download_only,omitempty"`
}

// Progress is what an update reports as it goes.
type Progress struct {
	Stage string `json:"stage"`
	Msg   string `json:"msg,omitempty"`
	Done  int64  `json:"done,omitempty"`
	Total int64  `json:"total,omitempty"`
	// Reused is the part's bytes taken from the machine instead of
	// fetched, while chunks are fetched.
	Reused int64 `json:"reused,omitempty"`
}

// Updater runs updates on a machine, one at a time.
type Updater struct {
	Machine Machine
	// Source is where releases come from; its Channel is the configured
	// one, which os-ctl channel set and --channel override.
	Source Source
	Tries  int // boot tries a new slot gets; default 3
	// PauseAt is the power-cut tests' seam, nil elsewhere: the moment it
	// names is where an update stops and waits until it is cancelled.
	// Moments: download (half the root image fetched), write (half
	// written to the partition), esp (half the kernel written to the
	// ESP), entry (before the boot entry is installed), installed
	// (installed, not yet preferred), committed (preferred, before the
	// reboot).
	PauseAt func() string

	mu   sync.Mutex
	busy bool
}

// ErrBusy is returned while another update runs.
var ErrBusy = errors.New("an update is already running")

// DefaultChannel is the channel of a machine that names none.
const DefaultChannel = "stable"

// Channel is the channel in force and where it was set.
func (u *Updater) Channel() (string, string) {
	if ch := u.Machine.Records.Channel(); ch != "" {
		return ch, "os-ctl channel set"
	}
	if src, _ := u.source(); src.Channel != "" {
		return src.Channel, "user-data"
	}
	return DefaultChannel, "default"
}

// Configure replaces the source and the tries, as user-data found later
// says; an update under way keeps what it started with.
func (u *Updater) Configure(src Source, tries int) {
	u.mu.Lock()
	u.Source, u.Tries = src, tries
	u.mu.Unlock()
}

func (u *Updater) source() (Source, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	tries := u.Tries
	if tries <= 0 {
		tries = 3
	}
	return u.Source, tries
}

func (u *Updater) entries() Entries {
	return Entries{Dir: filepath.Join(u.Machine.ESP, layout.EntriesDir)}
}

func (u *Updater) lock() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.busy {
		return ErrBusy
	}
	u.busy = true
	return nil
}

func (u *Updater) unlock() {
	u.mu.Lock()
	u.busy = false
	u.mu.Unlock()
}

// Busy reports whether an update runs.
func (u *Updater) Busy() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.busy
}

// ErrRefused marks a request the machine's state does not allow
// (errors.Is); the message says why.
var ErrRefused = errors.New("refused")

type refusal struct{ msg string }

func (r *refusal) Error() string        { return r.msg }
func (r *refusal) Is(target error) bool { return target == ErrRefused }

func refused(format string, args ...any) error {
	return &refusal{fmt.Sprintf(format, args...)}
}

// runningGood refuses to change slots unless the running one is good:
// while it is on trial its gate decides, and a second trial slot could
// leave both entries without tries.
func (u *Updater) runningGood() error {
	_, err := u.runningEntry()
	return err
}

// runningEntry is runningGood that returns the running slot's entry.
func (u *Updater) runningEntry() (SlotEntry, error) {
	m := u.Machine
	cur, ok, err := u.entries().Slot(m.Slot)
	switch {
	case err != nil:
		return cur, err
	case !ok:
		return cur, refused("the running slot %s has no boot entry on the ESP: this machine did not boot through Berth's boot loader", m.Slot)
	case cur.State() != EntryGood:
		return cur, refused("the running slot %s is on trial (%s): wait for its health gate", m.Slot, cur.File)
	}
	return cur, nil
}

// stageError is a failure at a stage of the update.
type stageError struct {
	stage string
	err   error
}

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

func at(stage string, err error) error {
	if err == nil {
		return nil
	}
	return &stageError{stage, err}
}

// Upgrade checks the channel (or opt.Version), fetches what the machine
// lacks of the release (its chunks, see delta.go, or whole parts),
// writes it to the inactive slot and its kernel to the ESP, checks each
// part whole against the signed metadata, installs and prefers the slot's
// entry with a try counter, and reboots.
// The running slot and its entry are never written: a failure or power
// cut at any moment leaves the machine booting what it runs now.
func (u *Updater) Upgrade(ctx context.Context, opt Options, report func(Progress)) (Attempt, error) {
	if err := u.lock(); err != nil {
		return Attempt{}, err
	}
	defer u.unlock()
	if report == nil {
		report = func(Progress) {}
	}
	m := u.Machine
	a := Attempt{Kind: "upgrade", Started: time.Now().UTC(), From: SlotRelease{m.Slot, m.Version}, To: SlotRelease{Slot: Other(m.Slot)}, Stage: "check", Result: ResultRunning}
	a.Channel, _ = u.Channel()
	if opt.Channel != "" {
		if err := ValidChannel(opt.Channel); err != nil {
			return a, err
		}
		a.Channel = opt.Channel
	}
	pauseAt := u.pauseAt() // read once: the pause and the cancellation's words agree
	err := u.upgrade(ctx, opt, &a, report, pauseAt)
	if err == nil {
		return a, nil
	}
	var se *stageError
	if errors.As(err, &se) {
		a.Stage = se.stage
	}
	if a.Result == ResultInstalled || a.Result == ResultRebooting {
		a.Result, a.Reason = ResultInstalled, err.Error()
		m.Records.SaveAttempt(a)
		return a, fmt.Errorf("%w (%s is installed: it boots at the next reboot)", err, a.To)
	}
	if ctx.Err() != nil && pauseAt == "" {
		err = fmt.Errorf("cancelled: %w", err)
	}
	if a.To.Version == "" && !errors.As(err, &se) || opt.DryRun || errors.Is(err, ErrUpToDate) {
		return a, err // nothing was tried: not an attempt
	}
	a.Result, a.Reason, a.Finished = ResultFailed, err.Error(), time.Now().UTC()
	if rerr := m.Records.SaveAttempt(a); rerr != nil {
		err = fmt.Errorf("%w (and %v)", err, rerr)
	}
	return a, err
}

func (u *Updater) upgrade(ctx context.Context, opt Options, a *Attempt, report func(Progress), pauseAt string) error {
	m := u.Machine
	src, tries := u.source()
	pause := func(moment string) error {
		if pauseAt != moment {
			return nil
		}
		report(Progress{Stage: "paused", Msg: moment})
		<-ctx.Done()
		return ctx.Err()
	}
	if src.Server == "" {
		return errors.New("no update server: set berth.update.server in user-data")
	}
	// Refusals before the check are not attempts: recording one would
	// replace the attempt a slot on trial is still finishing.
	running, err := u.runningEntry()
	if err != nil {
		return err
	}

	// Check: signed metadata, the release, and whether it may be installed.
	report(Progress{Stage: "check", Msg: fmt.Sprintf("%s, channel %s", src.Server, a.Channel)})
	src.Channel = a.Channel
	if src.HTTP == nil {
		src.HTTP = http.DefaultClient
	}
	offer, err := Check(ctx, src, opt.Version)
	if err != nil {
		return at("check", err)
	}
	if err := Allowed(m.Version, offer.Version, opt.AllowDowngrade); err != nil {
		return at("check", err)
	}
	a.To.Version = offer.Version
	slot := a.To.Slot

	// What the machine already has of it, where the release has chunk
	// indexes: what is left is what to fetch.
	if len(offer.Indexes) > 0 {
		report(Progress{Stage: "check", Msg: "looking for the release's chunks on this machine"})
	}
	dir := filepath.Join(m.Records.Dir, "download", offer.Version)
	ps, err := u.plan(offer, running, slot, dir, func(msg string) {
		report(Progress{Stage: "check", Msg: msg})
	})
	if err != nil {
		return at("check", err)
	}
	defer ps.close()
	a.Fetch, a.Reused = ps.fetchBytes(), ps.reuseBytes()
	how := "whole"
	if len(offer.Indexes) > 0 {
		how = "as chunks"
	}
	report(Progress{Stage: "check", Msg: fmt.Sprintf("release %s (%s): %d bytes to fetch (%s), %d reused of %d",
		offer.Version, a.Channel, a.Fetch, how, a.Reused, partsLength(offer))})
	if opt.DryRun {
		return nil
	}

	// Download into STATE, resuming what an earlier attempt left: whole
	// parts into dir, chunks into the cache.
	a.Stage = "download"
	if err := m.Records.SaveAttempt(*a); err != nil {
		return at("download", err)
	}
	if err := cleanDownloads(filepath.Join(m.Records.Dir, "download"), offer.Version); err != nil {
		return at("download", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return at("download", err)
	}
	var paused error
	// The "download" moment: half the root image's bytes to fetch are
	// fetched (and, for chunks, synced: the cut comes after a checkpoint).
	pauseDownload := func(done, total int64) error {
		if paused == nil && done >= total/2 {
			if pauseAt == "download" {
				m.chunkCache().Sync()
			}
			paused = pause("download")
		}
		return paused
	}
	for _, name := range PartNames {
		p := ps[name]
		if p.plan != nil {
			base, total := a.Downloaded, p.plan.FetchBytes
			err := fetchChunks(ctx, src.HTTP, offer.Chunks, p, func(done int64) error {
				a.Downloaded = base + done
				report(Progress{Stage: "download", Msg: name, Done: done, Total: total, Reused: p.plan.ReuseBytes})
				if name == "root.img" {
					return pauseDownload(done, total)
				}
				return nil
			})
			if name == "root.img" && err == nil && paused == nil {
				err = pauseDownload(total, total) // nothing, or too little, to fetch
			}
			if paused != nil {
				return at("download", paused)
			}
			if err != nil {
				return at("download", err)
			}
			continue
		}
		t := offer.Parts[name]
		path := filepath.Join(dir, name)
		held := fileSize(path) + fileSize(path+".part")
		err := Download(ctx, src.HTTP, t, path, 5, func(done, total int64) {
			report(Progress{Stage: "download", Msg: name, Done: done, Total: total})
			if name == "root.img" {
				pauseDownload(done, total)
			}
		})
		a.Downloaded += fileSize(path) + fileSize(path+".part") - held
		if paused != nil {
			return at("download", paused)
		}
		if err != nil {
			return at("download", err)
		}
	}
	// The kernel and the initramfs from chunks, into dir as if they had
	// been downloaded whole.
	for _, name := range []string{"vmlinuz", "initrd.img"} {
		if p := ps[name]; p.plan != nil {
			if err := assembleFile(p, filepath.Join(dir, name)); err != nil {
				return at("download", err)
			}
		}
	}
	if opt.DownloadOnly {
		a.Stage, a.Result, a.Finished = "download", ResultDownloaded, time.Now().UTC()
		report(Progress{Stage: "download", Msg: "downloaded and verified; not installed"})
		return m.Records.SaveAttempt(*a)
	}

	// The inactive slot: its entry goes first, so that nothing boots a
	// half-written partition, and the slot is recorded as being written.
	a.Stage = "write"
	if err := m.Records.SaveAttempt(*a); err != nil {
		return at("write", err)
	}
	if err := u.entries().Remove(slot); err != nil {
		return at("write", err)
	}
	// What the slot held is about to change: its kept index goes first.
	if err := os.Remove(m.keptIndexPath(slot)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return at("write", fmt.Errorf("ESP: %w", err))
	}
	prev, _ := m.Records.Slot(slot)
	if err := m.Records.SaveSlot(slot, SlotRecord{Version: offer.Version, Writing: true}); err != nil {
		return at("write", err)
	}
	dev, err := m.Partition(slot)
	if err != nil {
		return at("write", err)
	}
	pauseWrite := func() error {
		if paused == nil {
			paused = pause("write")
		}
		return paused
	}
	// An attempt at this release that was cut after writing the slot
	// need not write it again: reading is cheaper, and the same check.
	root := ps["root.img"]
	switch {
	case prev.Version == offer.Version && VerifySlot(dev, offer.Parts["root.img"], nil) == nil:
		report(Progress{Stage: "write", Msg: fmt.Sprintf("slot %s (%s) already holds %s", slot, dev, offer.Version)})
	case root.plan != nil:
		report(Progress{Stage: "write", Msg: "root.img to " + dev + ", from chunks"})
		err := assembleSlot(ctx, dev, root, func(done, total int64) error {
			report(Progress{Stage: "write", Msg: "root.img", Done: done, Total: total})
			if done >= total/2 {
				return pauseWrite()
			}
			return nil
		})
		if err != nil {
			// A chunk not where a slot's kept index put it: the next
			// attempt reads that slot instead. (The inactive slot's
			// went before the write; removing it again is harmless.)
			var ce *chunk.ChunkError
			if errors.As(err, &ce) && ce.StaleIndex != "" {
				if stale, ok := root.keptFor[ce.StaleIndex]; ok {
					if rerr := os.Remove(m.keptIndexPath(stale)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
						err = fmt.Errorf("%w; removing slot %s's stale index: %w", err, stale, rerr)
					}
				}
			}
			return at("write", err)
		}
	default:
		if err := u.writeSlot(ctx, dev, filepath.Join(dir, "root.img"), offer.Parts["root.img"], report, pauseWrite); err != nil {
			return at("write", err)
		}
	}

	// The slot's kernel and initramfs: temp file, fsync, rename.
	if err := ctx.Err(); err != nil {
		return at("esp", err)
	}
	a.Stage = "esp"
	if err := m.Records.SaveAttempt(*a); err != nil {
		return at("esp", err)
	}
	espDir := filepath.Join(m.ESP, layout.ESPDir(slot))
	if err := os.MkdirAll(espDir, 0o755); err != nil {
		return at("esp", fmt.Errorf("ESP: %w", err))
	}
	// Temp files an earlier attempt's cut left take room on a small ESP.
	if tmps, _ := filepath.Glob(filepath.Join(espDir, ".*")); len(tmps) > 0 {
		for _, p := range tmps {
			os.Remove(p)
		}
	}
	for _, name := range []string{"vmlinuz", "initrd.img"} {
		report(Progress{Stage: "esp", Msg: layout.ESPDir(slot) + "/" + name})
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return at("esp", err)
		}
		var r io.Reader = f
		if name == "vmlinuz" {
			r = &pausingReader{r: f, at: offer.Parts[name].Length / 2, pause: func() error { paused = pause("esp"); return paused }}
		}
		err = atomicfile.WriteFrom(filepath.Join(espDir, name), r, offer.Parts[name].Length, 0o644)
		f.Close()
		if paused != nil {
			return at("esp", paused)
		}
		if err != nil {
			return at("esp", fmt.Errorf("ESP: %w", err))
		}
	}

	// The index of what the slot now holds, for the next update to look
	// up (a release published whole has none). Without it that update
	// reads the slot: not worth failing this one for.
	if ix := offer.Indexes["root.img"]; ix != nil {
		if err := atomicfile.Write(m.keptIndexPath(slot), ix.Marshal(), 0o644); err != nil {
			report(Progress{Stage: "esp", Msg: fmt.Sprintf("slot %s's root index not kept: %v", slot, err)})
		}
	}

	// The entry: installed behind the running slot's, then preferred.
	if err := ctx.Err(); err != nil {
		return at("entry", err)
	}
	a.Stage = "entry"
	if err := pause("entry"); err != nil {
		return at("entry", err)
	}
	if err := u.entries().Write(slot, offer.Version, offer.KernelArgs, offer.Verity, 0, tries); err != nil {
		return at("entry", err)
	}
	if err := m.Records.SaveSlot(slot, SlotRecord{Version: offer.Version}); err != nil {
		return at("entry", err)
	}
	if err := pause("installed"); err != nil {
		return at("entry", err)
	}
	if err := ctx.Err(); err != nil {
		return at("entry", err)
	}
	gen, err := u.entries().MaxGeneration()
	if err != nil {
		return at("entry", err)
	}
	if err := u.entries().Write(slot, offer.Version, offer.KernelArgs, offer.Verity, gen+1, tries); err != nil {
		return at("entry", err)
	}
	// Committed: whatever fails from here, the next boot starts the new
	// slot on trial, so the attempt is installed, not failed.
	a.Result = ResultInstalled
	report(Progress{Stage: "entry", Msg: fmt.Sprintf("slot %s boots next, with %d tries", slot, tries)})
	os.RemoveAll(dir)
	os.RemoveAll(m.chunkCache().Dir)

	a.Stage = "reboot"
	a.Result = ResultRebooting
	if opt.NoReboot {
		a.Result = ResultInstalled
	}
	if err := m.Records.SaveAttempt(*a); err != nil {
		return at("reboot", err)
	}
	if err := pause("committed"); err != nil {
		return at("reboot", err)
	}
	if opt.NoReboot {
		report(Progress{Stage: "reboot", Msg: "installed: the next boot starts " + a.To.String()})
		return nil
	}
	report(Progress{Stage: "reboot", Msg: "rebooting into " + a.To.String()})
	if err := m.Reboot(); err != nil {
		return at("reboot", err)
	}
	return nil
}

// partsLength is what the release's parts come to, whole.
func partsLength(o Offer) (n int64) {
	for _, t := range o.Parts {
		n += t.Length
	}
	return n
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (u *Updater) pauseAt() string {
	if u.PauseAt == nil {
		return ""
	}
	return u.PauseAt()
}

// writeSlot writes the partition, reporting progress, and calls pause
// halfway.
func (u *Updater) writeSlot(ctx context.Context, dev, src string, t Target, report func(Progress), pause func() error) error {
	report(Progress{Stage: "write", Msg: "root.img to " + dev})
	var paused error
	err := WriteSlot(ctx, dev, src, t, func(stage string, done, total int64) {
		report(Progress{Stage: stage, Msg: "root.img", Done: done, Total: total})
		if stage == "write" && done >= total/2 && paused == nil {
			paused = pause()
		}
	})
	if paused != nil {
		return paused
	}
	return err
}

// cleanDownloads removes what earlier attempts left for other releases.
func cleanDownloads(dir, keep string) error {
	des, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, de := range des {
		if de.Name() != keep {
			if err := os.RemoveAll(filepath.Join(dir, de.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// pausingReader calls pause once, after at bytes were read.
type pausingReader struct {
	r     io.Reader
	n, at int64
	pause func() error
	done  bool
}

func (p *pausingReader) Read(b []byte) (int, error) {
	if !p.done && p.n >= p.at {
		p.done = true
		if err := p.pause(); err != nil {
			return 0, err
		}
	}
	if max := p.at - p.n; !p.done && int64(len(b)) > max && max > 0 {
		b = b[:max]
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	return n, err
}
