package update

import (
	"errors"
	"fmt"
	"time"
)

// SlotState is what a slot is to the updater.
type SlotState string

const (
	SlotGood    SlotState = "good"     // passed its health gate
	SlotOnTrial SlotState = "on trial" // tries left, or running its last
	SlotFailed  SlotState = "failed"   // no tries left
	SlotEmpty   SlotState = "empty"    // nothing installed, or a write that did not finish
)

// SlotStatus is what os-ctl status shows of a slot.
type SlotStatus struct {
	Slot       string    `json:"slot"`
	Version    string    `json:"version,omitempty"`
	State      SlotState `json:"state"`
	Entry      string    `json:"entry,omitempty"`
	BootedGood time.Time `json:"booted_good,omitempty"`
}

// Status is GET /v1/update.
type Status struct {
	Server   string       `json:"server,omitempty"`
	Channel  string       `json:"channel"`
	From     string       `json:"channel_from"` // default, user-data, os-ctl channel set
	Strategy Strategy     `json:"strategy"`
	Running  bool         `json:"running"`
	Slots    []SlotStatus `json:"slots"`
	Last     *Attempt     `json:"last,omitempty"`
	Problems []string     `json:"problems,omitempty"`
}

// Slot returns a slot's state from its entry and its record.
func (u *Updater) Slot(slot string) (SlotStatus, error) {
	s := SlotStatus{Slot: slot, State: SlotEmpty}
	rec, err := u.Machine.Records.Slot(slot)
	if err != nil {
		return s, err
	}
	s.BootedGood = rec.BootedGood
	e, ok, err := u.entries().Slot(slot)
	if err != nil {
		return s, err
	}
	if !ok || rec.Writing {
		return s, nil
	}
	s.Version, s.Entry = e.Release, e.File
	switch {
	case e.State() == EntryGood:
		s.State = SlotGood
	case slot == u.Machine.Slot:
		s.State = SlotOnTrial // booted on its last try, it may still pass
	case e.State() == EntryBad:
		s.State = SlotFailed
	default:
		s.State = SlotOnTrial
	}
	return s, nil
}

// Status reports the channel, both slots and the last attempt.
func (u *Updater) Status(strategy Strategy) Status {
	src, _ := u.source()
	st := Status{Server: src.Server, Strategy: strategy, Running: u.Busy()}
	st.Channel, st.From = u.Channel()
	for _, slot := range []string{"A", "B"} {
		s, err := u.Slot(slot)
		if err != nil {
			st.Problems = append(st.Problems, err.Error())
		}
		st.Slots = append(st.Slots, s)
	}
	if a, ok, err := u.Machine.Records.Attempt(); err != nil {
		st.Problems = append(st.Problems, err.Error())
	} else if ok {
		st.Last = &a
	}
	return st
}

// Rollback prefers the other slot, which must hold a release that passed
// the health gate before, and reboots into it; it gets a try counter like
// any new slot, so a failure brings this one back.
func (u *Updater) Rollback() (SlotRelease, error) {
	if err := u.lock(); err != nil {
		return SlotRelease{}, err
	}
	defer u.unlock()
	m := u.Machine
	if err := u.runningGood(); err != nil {
		return SlotRelease{}, fmt.Errorf("rollback: %w", err)
	}
	other := Other(m.Slot)
	s, err := u.Slot(other)
	if err != nil {
		return SlotRelease{}, fmt.Errorf("rollback: %w", err)
	}
	to := SlotRelease{other, s.Version}
	switch {
	case s.State == SlotEmpty:
		return to, refused("rollback: slot %s holds no release: nothing to go back to", other)
	case s.State != SlotGood || s.BootedGood.IsZero():
		return to, refused("rollback: slot %s (%s) is %s and never passed the health gate: refusing to boot it", other, s.Version, s.State)
	}
	// The slot's root hash and kernel arguments are in its entry, as its
	// release gave them.
	cur, ok, err := u.entries().Slot(other)
	if err != nil {
		return to, fmt.Errorf("rollback: %w", err)
	}
	if !ok {
		return to, refused("rollback: slot %s (%s) has no boot entry, so its root hash is not known: refusing to boot it", other, s.Version)
	}
	gen, err := u.entries().MaxGeneration()
	if err != nil {
		return to, fmt.Errorf("rollback: %w", err)
	}
	_, tries := u.source()
	a := Attempt{Started: time.Now().UTC(), From: SlotRelease{m.Slot, m.Version}, To: to, Kind: "rollback", Stage: "reboot", Result: ResultRebooting}
	a.Channel, _ = u.Channel()
	if err := u.entries().Write(other, s.Version, cur.Args, cur.Verity, gen+1, tries); err != nil {
		return to, fmt.Errorf("rollback: %w", err)
	}
	if err := m.Records.SaveAttempt(a); err != nil {
		return to, fmt.Errorf("rollback: %w", err)
	}
	return to, m.Reboot()
}

// Booted reconciles the records with this boot, early in sysd. It returns
// true when the running slot is on trial: the health gate must then call
// Passed or Failed.
func (u *Updater) Booted(now time.Time) (trial bool, err error) {
	m := u.Machine
	cur, ok, err := u.entries().Slot(m.Slot)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, nil // booted some other way (-kernel): nothing to gate
	}
	// Any counter means trial: systemd-boot boots an entry on its last
	// try too (berth-b+0-3.conf), and that boot may still pass.
	if cur.Counting {
		return true, nil
	}
	// A good slot: the factory image's first boot records it, and an
	// attempt that wanted the other slot ended here.
	rec, err := m.Records.Slot(m.Slot)
	if err != nil {
		return false, err
	}
	if rec.BootedGood.IsZero() || rec.Version != m.Version {
		if err := m.Records.SaveSlot(m.Slot, SlotRecord{Version: m.Version, BootedGood: now}); err != nil {
			return false, err
		}
	}
	a, ok, err := m.Records.Attempt()
	if err != nil || !ok {
		return false, err
	}
	if a.Result == ResultRunning {
		// This boot ended an update under way: a power cut or a crash.
		a.Result, a.Finished = ResultFailed, now
		a.Reason = fmt.Sprintf("interrupted at stage %s (the machine restarted); the slot is left as it was", a.Stage)
		return false, m.Records.SaveAttempt(a)
	}
	if a.To.Slot == m.Slot || (a.Result != ResultRebooting && a.Result != ResultInstalled) {
		return false, nil
	}
	o, found, _ := u.entries().Slot(a.To.Slot)
	switch {
	case found && o.Done > 0:
		a.Result, a.Reason = ResultRolledBack, fmt.Sprintf("slot %s did not come up: %d tries, none reached the health gate", a.To.Slot, o.Done)
		if note := m.Records.TrialNote(a.Started); note != "" {
			a.Reason = fmt.Sprintf("slot %s did not come up: %d tries; the last: %s", a.To.Slot, o.Done, note)
		}
	case a.Result == ResultInstalled:
		return false, nil // installed with --no-reboot: it boots next time
	default:
		a.Result, a.Reason = ResultFailed, "the machine restarted before it tried the new slot"
	}
	a.Finished, a.Stage = now, "boot"
	m.Records.ClearTrialNote()
	return false, m.Records.SaveAttempt(a)
}

// Passed marks the running slot good: its entry loses the counter, and
// the attempt that led here, if any, succeeded.
func (u *Updater) Passed(now time.Time) error {
	m := u.Machine
	if err := u.entries().MarkGood(m.Slot); err != nil {
		return err
	}
	if err := m.Records.SaveSlot(m.Slot, SlotRecord{Version: m.Version, BootedGood: now}); err != nil {
		return err
	}
	a, ok, err := m.Records.Attempt()
	if err != nil || !ok || a.To.Slot != m.Slot {
		return err
	}
	a.Finished, a.Result, a.Stage = now, ResultGood, "health"
	return m.Records.SaveAttempt(a)
}

// Failed records why the running slot failed its health gate and takes
// its tries away, so that the boot loader starts the other slot; the
// caller reboots.
func (u *Updater) Failed(now time.Time, reason string) error {
	m := u.Machine
	errs := []error{u.entries().MarkBad(m.Slot)}
	a, ok, err := m.Records.Attempt()
	errs = append(errs, err)
	if ok && a.To.Slot == m.Slot {
		a.Finished, a.Result, a.Stage, a.Reason = now, ResultRolledBack, "health", reason
		errs = append(errs, m.Records.SaveAttempt(a))
	}
	return errors.Join(errs...)
}
