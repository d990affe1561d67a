package layout

import (
	"encoding/json"
	"strings"
	"time"
)

// A slot on trial is bounded outside sysd too: PID 1 reboots the machine
// when no health verdict comes within the trial timeout, so a slot whose
// sysd crash-loops or hangs before its gate still spends its tries and
// falls back. These are the facts PID 1, sysd and the updater share.
const (
	// UpdateConfigFile is berth.update from user-data, as sysd writes it
	// (JSON); PID 1 reads trial_timeout from it at the next boot.
	UpdateConfigFile = "/etc/berth/update.json"
	// UpdateStateDir holds the updater's records on STATE.
	UpdateStateDir = "/var/lib/berth/update"
	// TrialNoteName, in UpdateStateDir, is the note of why a boot ended
	// before the health gate: PID 1's when a trial ran out of time, stage
	// 1's when the root could not be used. The updater puts it in the
	// attempt's reason.
	TrialNoteName = "trial-note"
	// TrialDecidedFile exists once sysd's gate has decided this boot (or
	// found it is no trial): PID 1 stands down.
	TrialDecidedFile = "/run/berth/trial-decided"
	// DefaultTrialTimeout is the trial timeout when user-data gives none:
	// ample for a boot, services, and the gate's own 120 s.
	DefaultTrialTimeout = 15 * time.Minute
)

// CountingEntry reports whether a boot entry file name has a boot counter
// (Boot Loader Specification: NAME+LEFT[-DONE].conf): the slot is on trial.
func CountingEntry(name string) bool {
	return strings.HasPrefix(name, "berth-") && strings.Contains(name, "+")
}

// TrialTimeout reads trial_timeout from UpdateConfigFile's content: the
// default when it is absent or unreadable, never less than a minute.
func TrialTimeout(updateJSON []byte) time.Duration {
	var c struct {
		TrialTimeout string `json:"trial_timeout"`
	}
	if json.Unmarshal(updateJSON, &c) != nil || c.TrialTimeout == "" {
		return DefaultTrialTimeout
	}
	d, err := time.ParseDuration(c.TrialTimeout)
	if err != nil || d <= 0 {
		return DefaultTrialTimeout
	}
	return max(d, time.Minute)
}
