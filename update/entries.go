package update

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"berth.dev/berth/internal/atomicfile"
	"berth.dev/berth/internal/layout"
)

// Entries is the loader/entries directory of a mounted ESP: the one place
// that says which slot boots next. Every change is a new file written in
// full under a name systemd-boot ignores, synced, then renamed into place,
// so a power cut leaves either the old entry or the new one.
type Entries struct{ Dir string }

// SlotEntry is one Berth entry on the ESP.
type SlotEntry struct {
	Entry
	File string // the file name, berth-b+2-1.conf
	EntryInfo
}

// List returns the Berth entries, in the order systemd-boot tries them.
// Files that are not Berth entries are left alone.
func (d Entries) List() ([]SlotEntry, error) {
	des, err := os.ReadDir(d.Dir)
	if err != nil {
		return nil, fmt.Errorf("boot entries: %w", err)
	}
	var out []SlotEntry
	for _, de := range des {
		if !strings.HasPrefix(de.Name(), "berth-") || !strings.HasSuffix(de.Name(), ".conf") {
			continue
		}
		e, err := ParseEntryName(de.Name())
		if err != nil {
			// berth-a-backup.conf, made by hand: not ours, and not a
			// reason to stop updating.
			continue
		}
		b, err := os.ReadFile(filepath.Join(d.Dir, de.Name()))
		if err != nil {
			return nil, fmt.Errorf("boot entries: %w", err)
		}
		info, err := ParseBootEntry(filepath.Join(d.Dir, de.Name()), string(b))
		if err != nil {
			// A torn or emptied entry (FAT has no journal) boots nothing:
			// systemd-boot skips an entry without a kernel too. It counts
			// as no entry, and writing the slot's next one removes it.
			continue
		}
		out = append(out, SlotEntry{Entry: e, File: de.Name(), EntryInfo: info})
	}
	Order(out)
	return out, nil
}

// Order sorts entries as systemd-boot (v252 and later) does for entries
// sharing a sort-key: entries with no tries left last, then the highest
// version (our generation) first, then by file name, newest first, then
// more tries left first. systemd-boot boots the first one.
func Order(es []SlotEntry) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if ab, bb := a.State() == EntryBad, b.State() == EntryBad; ab != bb {
			return bb
		}
		if a.Generation != b.Generation {
			return a.Generation > b.Generation
		}
		if a.File != b.File {
			return a.File > b.File
		}
		return a.Left > b.Left
	})
}

// Slot returns the slot's entry. After a cut between writing a slot's
// new entry and removing its old one there may be two: the one that
// boots first wins.
func (d Entries) Slot(slot string) (SlotEntry, bool, error) {
	es, err := d.List()
	if err != nil {
		return SlotEntry{}, false, err
	}
	for _, e := range es {
		if e.Slot == slot {
			return e, true, nil
		}
	}
	return SlotEntry{}, false, nil
}

// MaxGeneration is the highest generation on the ESP (0 when none).
func (d Entries) MaxGeneration() (int, error) {
	es, err := d.List()
	if err != nil {
		return 0, err
	}
	max := 0
	for _, e := range es {
		if e.Generation > max {
			max = e.Generation
		}
	}
	return max, nil
}

// Write makes the slot's entry: release, its kernel arguments and its
// root's hash tree, generation,
// and tries > 0 for a try counter (0: the slot is good). The new file
// replaces every older entry of the slot, and only of that slot.
func (d Entries) Write(slot, release string, args []string, v *layout.Verity, generation, tries int) error {
	e := Entry{Slot: slot, Counting: tries > 0, Left: tries}
	// The temp file's name does not end in .conf: systemd-boot ignores it.
	if err := atomicfile.Write(filepath.Join(d.Dir, e.Name()), []byte(BootEntry(slot, release, generation, args, v)), 0o644); err != nil {
		return fmt.Errorf("boot entry %s: %w", e.Name(), err)
	}
	if err := d.replace(slot, "", e.Name()); err != nil {
		return fmt.Errorf("boot entry %s: %w", e.Name(), err)
	}
	return nil
}

// Rename gives the slot's entry a new state, keeping its content: the
// health gate's "good" (no counter) or "bad" (no tries left).
func (d Entries) Rename(slot string, to Entry) error {
	cur, ok, err := d.Slot(slot)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("boot entry of slot %s: none on %s", slot, d.Dir)
	}
	if cur.File == to.Name() {
		return nil
	}
	if err := d.replace(slot, filepath.Join(d.Dir, cur.File), to.Name()); err != nil {
		return fmt.Errorf("boot entry %s → %s: %w", cur.File, to.Name(), err)
	}
	return nil
}

// MarkGood drops the slot's try counter.
func (d Entries) MarkGood(slot string) error { return d.Rename(slot, Entry{Slot: slot}) }

// MarkBad leaves the slot's entry with no tries: systemd-boot puts it
// last, so the other slot boots.
func (d Entries) MarkBad(slot string) error {
	cur, ok, err := d.Slot(slot)
	if err != nil || !ok {
		return d.Rename(slot, Entry{}) // reports the error
	}
	return d.Rename(slot, Entry{Slot: slot, Counting: true, Left: 0, Done: cur.Done + cur.Left})
}

// Remove deletes every entry of the slot.
func (d Entries) Remove(slot string) error {
	return d.replace(slot, "", "")
}

// replace renames src to name (when src is given) and then removes the
// slot's other entries, syncing the directory after each step.
func (d Entries) replace(slot, src, name string) error {
	if src != "" {
		if err := os.Rename(src, filepath.Join(d.Dir, name)); err != nil {
			return err
		}
		if err := syncDir(d.Dir); err != nil {
			return err
		}
	}
	des, err := os.ReadDir(d.Dir)
	if err != nil {
		return err
	}
	removed := false
	for _, de := range des {
		// Also the temp files a cut left behind: .berth-b+3.conf.123.
		entry := de.Name()
		if i := strings.Index(entry, ".conf."); strings.HasPrefix(entry, ".") && i > 0 {
			entry = entry[1 : i+len(".conf")]
		}
		e, err := ParseEntryName(entry)
		if err != nil || e.Slot != slot || de.Name() == name {
			continue
		}
		if err := os.Remove(filepath.Join(d.Dir, de.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		removed = true
	}
	if removed {
		return syncDir(d.Dir)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
