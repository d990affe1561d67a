package install

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeMachine lays out a sysfs block tree: each disk with its size in
// sectors, its partitions with labels, and what reads its head.
type fakeDisk struct {
	name    string
	sectors int64
	dev     string
	ro      bool
	parts   map[string]string // name → label
	holder  string
	head    []byte
}

func fakeMachine(t *testing.T, mounts string, disks ...fakeDisk) Machine {
	t.Helper()
	root := t.TempDir()
	sys := filepath.Join(root, "sys")
	heads := map[string][]byte{}
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range disks {
		dir := filepath.Join(sys, d.name)
		write(filepath.Join(dir, "size"), itoa(d.sectors)+"\n")
		write(filepath.Join(dir, "dev"), d.dev+"\n")
		ro := "0"
		if d.ro {
			ro = "1"
		}
		write(filepath.Join(dir, "ro"), ro+"\n")
		os.MkdirAll(filepath.Join(dir, "holders"), 0o755)
		if d.holder != "" {
			write(filepath.Join(dir, "holders", d.holder), "")
		}
		i := 1
		for p, label := range d.parts {
			write(filepath.Join(dir, p, "partition"), itoa(int64(i))+"\n")
			major, minor, _ := strings.Cut(d.dev, ":")
			base, _ := strconv.ParseInt(minor, 10, 64)
			write(filepath.Join(dir, p, "dev"), major+":"+itoa(base+int64(i))+"\n")
			write(filepath.Join(dir, p, "uevent"), "DEVTYPE=partition\nPARTNAME="+label+"\nDEVNAME="+p+"\n")
			os.MkdirAll(filepath.Join(dir, p, "holders"), 0o755)
			// sysfs lists partitions under class/block too.
			if err := os.Symlink(filepath.Join(dir, p), filepath.Join(sys, p)); err != nil {
				t.Fatal(err)
			}
			i++
		}
		heads["/dev/"+d.name] = d.head
	}
	mi := filepath.Join(root, "mountinfo")
	write(mi, mounts)
	return Machine{SysBlock: sys, Mounts: mi, Swaps: filepath.Join(root, "swaps"), Head: func(dev string) ([]byte, error) {
		if h, ok := heads[dev]; ok {
			return h, nil
		}
		return nil, errors.New("no such device")
	}}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

const gibSectors = 1 << 30 / 512

func TestCheckRefusals(t *testing.T) {
	mbr := make([]byte, 64<<10)
	mbr[510], mbr[511] = 0x55, 0xAA
	gpt := make([]byte, 64<<10)
	copy(gpt[512:], "EFI PART")
	m := fakeMachine(t,
		"22 1 11:0 / /run/berth/live ro - iso9660 /dev/sr0 ro\n30 1 8:17 / /mnt rw - ext4 /dev/sdb1 rw\n",
		fakeDisk{name: "vda", sectors: 8 * gibSectors, dev: "254:0", head: make([]byte, 64<<10)},
		fakeDisk{name: "vdb", sectors: 1 * gibSectors, dev: "254:16", head: make([]byte, 64<<10)},
		fakeDisk{name: "vdc", sectors: 20 * gibSectors, dev: "254:32", parts: map[string]string{"vdc1": "data"}},
		fakeDisk{name: "vdd", sectors: 8 * gibSectors, dev: "254:48", head: mbr},
		fakeDisk{name: "vde", sectors: 8 * gibSectors, dev: "254:64", head: gpt},
		fakeDisk{name: "vdf", sectors: 8 * gibSectors, dev: "254:80", ro: true},
		fakeDisk{name: "vdg", sectors: 8 * gibSectors, dev: "254:96", holder: "dm-0"},
		fakeDisk{name: "sdb", sectors: 30 * gibSectors, dev: "8:16", parts: map[string]string{"sdb1": ""}},
		fakeDisk{name: "sr0", sectors: 1 * gibSectors, dev: "11:0"},
		fakeDisk{name: "md0", sectors: 8 * gibSectors, dev: "9:0"},
	)
	for _, c := range []struct {
		disk     string
		force    bool
		want     string // "" passes
		forcible bool
	}{
		{"/dev/vda", false, "", false},
		{"vda", false, "", false},
		{"/dev/vdb", false, "too small: 1.0 GiB", false},
		{"/dev/vdc", false, "holds partitions (vdc1 data)", true},
		{"/dev/vdc", true, "", false},
		{"/dev/vdc1", true, "is a partition", false},
		{"/dev/vdd", false, "holds a boot sector or an MBR partition table", true},
		{"/dev/vde", false, "holds a GPT partition table", true},
		{"/dev/vdf", false, "read-only", false},
		{"/dev/vdg", true, "in use: /dev/vdg is held by dm-0", false},
		{"/dev/sdb", true, "in use: /dev/sdb1 is mounted on /mnt", false},
		{"/dev/sr0", true, "CD-ROM", false},
		{"/dev/md0", true, "a virtual device", false},
		{"/dev/nvme9n1", false, "not a block device", false},
		{"/dev/../etc", false, "not a disk's device name", false},
	} {
		_, err := m.Check(c.disk, c.force)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s force=%v: %v", c.disk, c.force, err)
			}
			continue
		}
		var r *Refusal
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.As(err, &r) || r.Forcible != c.forcible {
			t.Errorf("%s force=%v: %v, want a refusal with %q (forcible %v)", c.disk, c.force, err, c.want, c.forcible)
		}
	}

	// largest: the 20 GiB disk holds partitions and sdb is in use; the
	// blank 8 GiB one wins, and every refusal is named.
	d, refused, err := m.Choose(Largest, false)
	if err != nil || d.Name != "vda" || d.Size != 8<<30 {
		t.Fatalf("largest: %+v, %v", d, err)
	}
	if len(refused) != 7 {
		t.Errorf("refused %d disks, want 7: %v", len(refused), refused)
	}
	if d, _, err := m.Choose(Largest, true); err != nil || d.Name != "vdc" {
		t.Fatalf("largest, forced: %+v, %v", d, err)
	}
}

func TestChooseWithNothingUsable(t *testing.T) {
	m := fakeMachine(t, "", fakeDisk{name: "vda", sectors: gibSectors, dev: "254:0"})
	_, _, err := m.Choose(Largest, false)
	if err == nil || !strings.Contains(err.Error(), "no disk can be installed to") || !strings.Contains(err.Error(), "too small") {
		t.Fatalf("got %v", err)
	}
}
