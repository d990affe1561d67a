// Package update holds Berth's A/B update logic: boot entries with
// systemd-boot's boot counting, slots, channels and verification. This file
// is the naming of boot entries, which the image builder writes and the
// updater and the health gate rename.
package update

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Entry is what a boot entry's file name says (Boot Loader Specification,
// "Boot counting"): berth-b+3.conf is slot B with three tries left;
// systemd-boot renames it berth-b+2-1.conf on the first try, and
// berth-b+0-3.conf when none are left. berth-a.conf has no counter: good.
type Entry struct {
	Slot       string // "A" or "B"
	Counting   bool   // false: the slot is good
	Left, Done int
}

var entryRE = regexp.MustCompile(`^berth-([ab])(?:\+(\d+)(?:-(\d+))?)?\.conf$`)

// ParseEntryName reads an entry file name.
func ParseEntryName(name string) (Entry, error) {
	m := entryRE.FindStringSubmatch(name)
	if m == nil {
		return Entry{}, fmt.Errorf("boot entry %q: not a Berth entry (want berth-a.conf or berth-b+N[-M].conf)", name)
	}
	e := Entry{Slot: strings.ToUpper(m[1])}
	var err1, err2 error
	if m[2] != "" {
		e.Counting = true
		e.Left, err1 = strconv.Atoi(m[2])
		if m[3] != "" {
			e.Done, err2 = strconv.Atoi(m[3])
		}
	}
	if err1 != nil || err2 != nil {
		return Entry{}, fmt.Errorf("boot entry %q: a counter out of range", name)
	}
	return e, nil
}

// Name renders the entry's file name.
func (e Entry) Name() string {
	n := "berth-" + strings.ToLower(e.Slot)
	if e.Counting {
		n += "+" + strconv.Itoa(e.Left)
		if e.Done > 0 {
			n += "-" + strconv.Itoa(e.Done)
		}
	}
	return n + ".conf"
}

// EntryState is how the boot loader treats an entry.
type EntryState string

const (
	EntryGood    EntryState = "good"     // no counter
	EntryOnTrial EntryState = "on trial" // tries left
	EntryBad     EntryState = "bad"      // no tries left: booted last, if at all
)

// State is how the boot loader will treat the entry.
func (e Entry) State() EntryState {
	switch {
	case !e.Counting:
		return EntryGood
	case e.Left == 0:
		return EntryBad
	}
	return EntryOnTrial
}
