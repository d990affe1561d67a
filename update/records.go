package update

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"berth.dev/berth/internal/layout"

	"berth.dev/berth/internal/atomicfile"
)

// Records are the updater's files on STATE (/var/lib/berth/update): the
// channel chosen with os-ctl, the last attempt, and what each slot holds.
// Each is replaced atomically, so a power cut leaves the old or the new.
type Records struct{ Dir string }

// Attempt is the last update attempt, as os-ctl status shows it.
type Attempt struct {
	Kind     string      `json:"kind"` // upgrade, rollback
	Started  time.Time   `json:"started"`
	Finished time.Time   `json:"finished,omitempty"`
	Channel  string      `json:"channel,omitempty"`
	From     SlotRelease `json:"from"`
	To       SlotRelease `json:"to"`
	// Stage is the step reached: check, download, write, esp, entry,
	// reboot, health.
	Stage string `json:"stage"`
	// Result: running, downloaded (download only), installed (waits
	// for a reboot), rebooting, good, failed (the machine was left as it
	// was), rolled back.
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
	// Downloaded is the bytes fetched by this attempt (resumed parts
	// count what was fetched after the resume; chunks count as stored,
	// compressed).
	Downloaded int64 `json:"downloaded"`
	// Fetch is what the attempt set out to fetch once it knew what the
	// machine had (a dry run stops there), and Reused the release's bytes
	// it took from the machine instead: the slots, chunks fetched before.
	Fetch  int64 `json:"fetch,omitempty"`
	Reused int64 `json:"reused,omitempty"`
}

// SlotRelease is a release in a slot.
type SlotRelease struct {
	Slot    string `json:"slot"`
	Version string `json:"version"`
}

// Attempt results.
const (
	ResultRunning    = "running"
	ResultDownloaded = "downloaded"
	ResultInstalled  = "installed"
	ResultRebooting  = "rebooting"
	ResultGood       = "good"
	ResultFailed     = "failed"
	ResultRolledBack = "rolled back"
)

func (a Attempt) String() string {
	s := fmt.Sprintf("%s %s → %s: %s", a.Started.UTC().Format(time.RFC3339), a.From, a.To, a.Result)
	if a.Result == ResultFailed || a.Result == ResultRolledBack {
		s += " at " + a.Stage
	}
	if a.Reason != "" {
		s += ": " + a.Reason
	}
	return s
}

func (s SlotRelease) String() string {
	if s.Version == "" {
		return "slot " + s.Slot
	}
	return s.Version + " (slot " + s.Slot + ")"
}

// SlotRecord is what the updater knows of a slot beyond its boot entry.
type SlotRecord struct {
	Version string `json:"version"`
	// Writing is set before the partition is touched and cleared when
	// its entry is installed: a slot left writing holds nothing usable.
	Writing bool `json:"writing,omitempty"`
	// BootedGood is when the release in the slot last passed the health
	// gate; only such a slot may be rolled back to.
	BootedGood time.Time `json:"booted_good,omitempty"`
}

func (r Records) path(name string) string { return filepath.Join(r.Dir, name) }

func (r Records) read(name string, v any) (bool, error) {
	b, err := os.ReadFile(r.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("update record: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("update record %s: %w", r.path(name), err)
	}
	return true, nil
}

func (r Records) write(name string, v any) error {
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return fmt.Errorf("update record: %w", err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(r.path(name), append(b, '\n'), 0o644)
}

// Attempt returns the last attempt; ok is false when there was none.
func (r Records) Attempt() (a Attempt, ok bool, err error) {
	ok, err = r.read("attempt.json", &a)
	return a, ok, err
}

// SaveAttempt records a.
func (r Records) SaveAttempt(a Attempt) error { return r.write("attempt.json", a) }

// TrialNote is the note PID 1 or stage 1 left when a boot ended before
// the health gate, or "". A note older than since (the attempt's start)
// belongs to some earlier boot and is not returned.
func (r Records) TrialNote(since time.Time) string {
	p := r.path(layout.TrialNoteName)
	if st, err := os.Stat(p); err != nil || st.ModTime().Before(since) {
		return ""
	}
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}

// ClearTrialNote removes the note once an attempt has used it.
func (r Records) ClearTrialNote() { os.Remove(r.path(layout.TrialNoteName)) }

// Slot returns the slot's record (zero when none).
func (r Records) Slot(slot string) (SlotRecord, error) {
	var s SlotRecord
	_, err := r.read("slot-"+slot+".json", &s)
	return s, err
}

// SaveSlot records the slot.
func (r Records) SaveSlot(slot string, s SlotRecord) error {
	return r.write("slot-"+slot+".json", s)
}

// Channel is the channel set with os-ctl channel set, or "".
func (r Records) Channel() string {
	b, _ := os.ReadFile(r.path("channel"))
	return strings.TrimSpace(string(b))
}

// SetChannel persists the channel.
func (r Records) SetChannel(ch string) error {
	if err := ValidChannel(ch); err != nil {
		return err
	}
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return fmt.Errorf("update record: %w", err)
	}
	return atomicfile.Write(r.path("channel"), []byte(ch+"\n"), 0o644)
}

// ValidChannel refuses names that cannot be a channel file's name.
func ValidChannel(ch string) error {
	if ch == "" || strings.ContainsAny(ch, "/\\ \t\n") || strings.HasPrefix(ch, ".") {
		return fmt.Errorf("channel %q: a channel is a plain name such as stable, beta or alpha", ch)
	}
	return nil
}

// Other is the slot that is not s.
func Other(s string) string {
	if s == "A" {
		return "B"
	}
	return "A"
}
