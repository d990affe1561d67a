package update

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"berth.dev/berth/internal/layout"
)

func mustBoot(t *testing.T, d Entries, slot, file string) {
	t.Helper()
	e, err := d.Boot()
	if err != nil {
		t.Fatal(err)
	}
	if e.Slot != slot || e.File != file {
		t.Fatalf("booted %s (slot %s), want %s (slot %s); entries: %s", e.File, e.Slot, file, slot, Files(t, d.Dir))
	}
}

// The whole life of two slots, as the updater, the health gate and
// systemd-boot (Entries.Boot) treat the entries.
func TestEntriesCycle(t *testing.T) {
	d := Entries{Dir: t.TempDir()}
	os.WriteFile(filepath.Join(d.Dir, "other.conf"), []byte("title other\nsort-key zzz\n"), 0o644)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// The factory image: slot A, good.
	must(d.Write("A", "0.1.0", nil, nil, 1, 0))
	mustBoot(t, d, "A", "berth-a.conf")

	// Upgrade to 0.2.0 in B: installed first with generation 0, which
	// does not change what boots …
	must(d.Remove("B"))
	must(d.Write("B", "0.2.0", nil, nil, 0, 3))
	mustBoot(t, d, "A", "berth-a.conf")
	// … then committed with a newer generation: B boots, on trial.
	must(d.Write("B", "0.2.0", nil, nil, 2, 3))
	mustBoot(t, d, "B", "berth-b+2-1.conf")
	// The health gate marks it good; it keeps booting.
	must(d.MarkGood("B"))
	mustBoot(t, d, "B", "berth-b.conf")
	if got := Files(t, d.Dir); got != "berth-a.conf berth-b.conf other.conf" {
		t.Fatalf("files: %s", got)
	}
	b, _, _ := d.Slot("B")
	if b.Release != "0.2.0" || b.Generation != 2 || b.State() != "good" {
		t.Fatalf("slot B: %+v", b)
	}

	// A broken 0.3.0 in A that never reaches the health gate: three
	// tries, then B again on its own.
	must(d.Remove("A"))
	must(d.Write("A", "0.3.0", nil, nil, 3, 3))
	mustBoot(t, d, "A", "berth-a+2-1.conf")
	mustBoot(t, d, "A", "berth-a+1-2.conf")
	mustBoot(t, d, "A", "berth-a+0-3.conf")
	mustBoot(t, d, "B", "berth-b.conf")

	// One that reaches the gate and fails it: marked bad at once.
	must(d.Write("A", "0.3.1", nil, nil, 4, 3))
	mustBoot(t, d, "A", "berth-a+2-1.conf")
	must(d.MarkBad("A"))
	if a, _, _ := d.Slot("A"); a.File != "berth-a+0-3.conf" || a.State() != "bad" {
		t.Fatalf("after MarkBad: %+v", a)
	}
	mustBoot(t, d, "B", "berth-b.conf")

	// Rollback to a good A (0.1.0 again, say): a newer generation with a
	// counter, written without touching B's entry.
	must(d.Write("A", "0.1.0", nil, nil, 5, 3))
	mustBoot(t, d, "A", "berth-a+2-1.conf")
	if got := Files(t, d.Dir); got != "berth-a+2-1.conf berth-b.conf other.conf" {
		t.Fatalf("files: %s", got)
	}
	if g, _ := d.MaxGeneration(); g != 5 {
		t.Fatalf("max generation %d", g)
	}
}

// A cut between renaming a slot's new entry in and removing its old one
// leaves two; the one systemd-boot would boot first counts.
func TestEntriesTwoForOneSlot(t *testing.T) {
	d := Entries{Dir: t.TempDir()}
	os.WriteFile(filepath.Join(d.Dir, "berth-a.conf"), []byte(BootEntry("A", "0.1.0", 1, nil, nil)), 0o644)
	os.WriteFile(filepath.Join(d.Dir, "berth-a+3.conf"), []byte(BootEntry("A", "0.1.0", 4, nil, nil)), 0o644)
	a, ok, err := d.Slot("A")
	if err != nil || !ok || a.File != "berth-a+3.conf" {
		t.Fatalf("slot A: %+v %v %v", a, ok, err)
	}
	if err := d.MarkGood("A"); err != nil {
		t.Fatal(err)
	}
	if got := Files(t, d.Dir); got != "berth-a.conf" {
		t.Fatalf("files: %s", got)
	}
	if a, _, _ := d.Slot("A"); a.Generation != 4 {
		t.Fatalf("kept the wrong one: %+v", a)
	}
}

func TestBootEntryRoundTrip(t *testing.T) {
	e := BootEntry("B", "1.2.3", 7, nil, nil)
	for _, want := range []string{"linux   /berth/B/vmlinuz", "initrd  /berth/B/initrd.img", "berth.slot=B", "version 7", "title   Berth 1.2.3 (slot B)"} {
		if !strings.Contains(e, want) {
			t.Errorf("entry lacks %q:\n%s", want, e)
		}
	}
	info, err := ParseBootEntry("x.conf", e)
	if err != nil || !reflect.DeepEqual(info, EntryInfo{Release: "1.2.3", Generation: 7, Args: layout.KernelArgs}) {
		t.Fatalf("%+v %v", info, err)
	}
	_, err = ParseBootEntry("/esp/loader/entries/berth-a.conf", "title x\nversion 1.2\n")
	if err == nil || !strings.Contains(err.Error(), "berth-a.conf:2: version") {
		t.Fatalf("error %v", err)
	}

	// The root hash goes to the kernel command line and comes back.
	v := &layout.Verity{DataBlocks: 9, RootHash: strings.Repeat("ab", 32), Salt: "0102"}
	e = BootEntry("A", "1.2.4", 8, nil, v)
	if !strings.Contains(e, "options console=tty0 console=ttyS0,115200 loglevel=4 panic=10 gpt berth.slot=A berth.verity=9:"+v.RootHash+":0102\n") {
		t.Fatalf("entry:\n%s", e)
	}
	info, err = ParseBootEntry("x.conf", e)
	if err != nil || info.Verity == nil || *info.Verity != *v {
		t.Fatalf("%+v %v", info, err)
	}
	_, err = ParseBootEntry("/esp/loader/entries/berth-a.conf", strings.Replace(e, "berth.verity=9:", "berth.verity=x:", 1))
	if err == nil || !strings.Contains(err.Error(), "berth-a.conf:7: options: berth.verity=") {
		t.Fatalf("error %v", err)
	}

	// A release's own kernel arguments go to its entry and come back,
	// for a rollback to write them again.
	e = BootEntry("B", "1.3.0", 9, []string{"console=ttyS1,9600", "quiet"}, v)
	if !strings.Contains(e, "options console=ttyS1,9600 quiet berth.slot=B berth.verity=9:") {
		t.Fatalf("entry:\n%s", e)
	}
	info, err = ParseBootEntry("x.conf", e)
	if err != nil || !reflect.DeepEqual(info.Args, []string{"console=ttyS1,9600", "quiet"}) {
		t.Fatalf("%+v %v", info, err)
	}
}

// A power cut can leave an entry emptied: it is no entry, and the slot's
// next entry replaces it.
func TestEntriesEmptyFile(t *testing.T) {
	d := Entries{Dir: t.TempDir()}
	d.Write("A", "0.1.0", nil, nil, 1, 0)
	os.WriteFile(filepath.Join(d.Dir, "berth-b+3.conf"), nil, 0o644)
	os.WriteFile(filepath.Join(d.Dir, ".berth-b+3.conf.1234"), []byte("tit"), 0o644)
	os.WriteFile(filepath.Join(d.Dir, ".berth-a.conf.1234"), []byte("tit"), 0o644)
	es, err := d.List()
	if err != nil || len(es) != 1 || es[0].Slot != "A" {
		t.Fatalf("%+v %v", es, err)
	}
	if err := d.Write("B", "0.2.0", nil, nil, 2, 3); err != nil {
		t.Fatal(err)
	}
	if got := Files(t, d.Dir); got != ".berth-a.conf.1234 berth-a.conf berth-b+3.conf" {
		t.Fatalf("files: %s", got)
	}
	if b, _, _ := d.Slot("B"); b.Generation != 2 {
		t.Fatalf("slot B: %+v", b)
	}
}

// Boot does to the entries what systemd-boot does when it boots: picks
// the first, and counts a try on it. It returns the entry as booted.
func (d Entries) Boot() (SlotEntry, error) {
	es, err := d.List()
	if err != nil || len(es) == 0 {
		return SlotEntry{}, fmt.Errorf("boot: no entry to boot in %s (%v)", d.Dir, err)
	}
	e := es[0]
	if e.Counting && e.Left > 0 {
		n := e.Entry
		n.Left--
		n.Done++
		if err := os.Rename(filepath.Join(d.Dir, e.File), filepath.Join(d.Dir, n.Name())); err != nil {
			return e, err
		}
		e.Entry, e.File = n, n.Name()
	}
	return e, nil
}

// A file an admin left on the ESP that looks like ours but is not
// (berth-a-backup.conf) is ignored; it used to fail List and so block
// every update and the health gate (issue 15.10).
func TestEntriesStrayFile(t *testing.T) {
	d := Entries{Dir: t.TempDir()}
	if err := d.Write("A", "0.1.0", nil, nil, 1, 0); err != nil {
		t.Fatal(err)
	}
	for _, stray := range []string{"berth-a-backup.conf", "berth-c.conf", "berth-b+99999999999999999999.conf"} {
		os.WriteFile(filepath.Join(d.Dir, stray), []byte("title x\nlinux /x\n"), 0o644)
	}
	es, err := d.List()
	if err != nil || len(es) != 1 || es[0].File != "berth-a.conf" {
		t.Fatalf("%+v %v", es, err)
	}
}

func FuzzParseEntryName(f *testing.F) {
	for _, s := range []string{"berth-a.conf", "berth-b+3.conf", "berth-b+2-1.conf", "berth-a-backup.conf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		e, err := ParseEntryName(name)
		if err != nil {
			return
		}
		if e.Left < 0 || e.Done < 0 {
			t.Fatalf("%q: negative counter %+v", name, e)
		}
		if back, err := ParseEntryName(e.Name()); err != nil || back != e {
			t.Fatalf("%q → %+v → %q → %+v %v", name, e, e.Name(), back, err)
		}
	})
}
