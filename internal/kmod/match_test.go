package kmod

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func realAliases(t testing.TB) *Matcher {
	t.Helper()
	f, err := os.Open("testdata/modules.alias")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := ParseAliases(f)
	if err != nil {
		t.Fatal(err)
	}
	return a.Matcher()
}

// The modaliases are those QEMU's devices show in a guest's sysfs.
func TestMatchRealAliases(t *testing.T) {
	m := realAliases(t)
	for _, tc := range []struct {
		name, modalias string
		want           []string
	}{
		{"ICH9 AHCI (class match)", "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01", []string{"ahci"}},
		{"e1000e", "pci:v00008086d000010D3sv00001AF4sd00001100bc02sc00i00", []string{"e1000e"}},
		{"pvscsi", "pci:v000015ADd000007C0sv000015ADsd000007C0bc01sc00i00", []string{"vmw_pvscsi"}},
		{"vmxnet3", "pci:v000015ADd000007B0sv000015ADsd000007B0bc02sc00i00", []string{"vmxnet3"}},
		{"NVMe (class match)", "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02", []string{"nvme"}},
		{"virtio PCI transport", "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00", []string{"virtio_pci"}},
		{"virtio block device", "virtio:d00000002v00001AF4", []string{"virtio_blk"}},
		{"SCSI disk", "scsi:t-0x00", []string{"sd_mod"}},
		{"SCSI CD-ROM", "scsi:t-0x05", []string{"sr_mod"}},
		{"LSI 53C895A", "pci:v00001000d00000012sv00000000sd00000000bc01sc00i00", []string{"sym53c8xx"}},
		{"RTL8139", "pci:v000010ECd00008139sv00001AF4sd00001100bc02sc00i00", []string{"8139too"}},
		{"Hyper-V VMBus (acpi* prefix)", "acpi:VMBUS:", []string{"hv_vmbus"}},
		{"Xen disk", "xen:vbd", []string{"xen_blkfront"}},
		{"host bridge: no driver", "pci:v00008086d000029C0sv00001AF4sd00001100bc06sc00i00", []string{}},
		{"empty", "", nil},
	} {
		got := m.Match(tc.modalias)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Match(%q) = %v, want %v", tc.name, tc.modalias, got, tc.want)
		}
	}
}

func TestWantedSkipsTried(t *testing.T) {
	m := realAliases(t)
	devs := []Device{
		{Bus: "pci", Modalias: "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01"},
		{Bus: "pci", Modalias: "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00"},
		{Bus: "pci", Modalias: "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"},
		{Bus: "scsi", Modalias: "scsi:t-0x00"},
		{Bus: "scsi", Modalias: "scsi:t-0x00"},
	}
	got := m.Wanted(devs, map[string]bool{"ahci": true})
	if want := []string{"sd_mod", "virtio_pci"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Wanted = %v, want %v", got, want)
	}
}

func TestDevices(t *testing.T) {
	sys := t.TempDir()
	dev := func(path, modalias, driver string) {
		d := filepath.Join(sys, path)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if modalias != "" {
			os.WriteFile(filepath.Join(d, "modalias"), []byte(modalias+"\n"), 0o444)
		}
		if driver != "" {
			os.MkdirAll(filepath.Join(sys, "bus/pci/drivers", driver), 0o755)
			os.Symlink(filepath.Join(sys, "bus/pci/drivers", driver), filepath.Join(d, "driver"))
		}
	}
	link := func(bus, name, path string) {
		os.MkdirAll(filepath.Join(sys, "bus", bus, "devices"), 0o755)
		if err := os.Symlink(filepath.Join(sys, path), filepath.Join(sys, "bus", bus, "devices", name)); err != nil {
			t.Fatal(err)
		}
	}
	dev("devices/pci0000:00/0000:00:02.0", "pci:v000015ADd000007C0sv000015ADsd000007C0bc01sc00i00", "")
	dev("devices/pci0000:00/0000:00:03.0", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", "virtio-pci")
	dev("devices/pci0000:00/0000:00:00.0", "", "")
	// An ACPI node is served through the device it describes.
	dev("devices/platform/QEMU0002:00", "acpi:QEMU0002:", "fw_cfg")
	dev("devices/LNXSYSTM:00/QEMU0002:00", "acpi:QEMU0002:", "")
	os.Symlink(filepath.Join(sys, "devices/platform/QEMU0002:00"), filepath.Join(sys, "devices/LNXSYSTM:00/QEMU0002:00/physical_node"))
	link("acpi", "QEMU0002:00", "devices/LNXSYSTM:00/QEMU0002:00")
	link("pci", "0000:00:02.0", "devices/pci0000:00/0000:00:02.0")
	// The kernel's links are relative.
	os.Symlink("../../../devices/pci0000:00/0000:00:03.0", filepath.Join(sys, "bus/pci/devices/0000:00:03.0"))
	link("pci", "0000:00:00.0", "devices/pci0000:00/0000:00:00.0")
	link("pci", "0000:00:09.0", "devices/gone") // vanished while listed
	os.MkdirAll(filepath.Join(sys, "bus/empty"), 0o755)
	// Class devices count only with a modalias.
	dev("devices/virtual/input/input2", "input:b0019v0000p0001e0000-e0,1,k74,ramlsfw", "")
	dev("devices/virtual/tty/ttyS0", "", "")
	os.MkdirAll(filepath.Join(sys, "class/input"), 0o755)
	os.MkdirAll(filepath.Join(sys, "class/tty"), 0o755)
	os.Symlink(filepath.Join(sys, "devices/virtual/input/input2"), filepath.Join(sys, "class/input/input2"))
	os.Symlink(filepath.Join(sys, "devices/virtual/tty/ttyS0"), filepath.Join(sys, "class/tty/ttyS0"))

	got, err := Devices(sys)
	if err != nil {
		t.Fatal(err)
	}
	want := []Device{
		{Path: "/devices/LNXSYSTM:00/QEMU0002:00", Bus: "acpi", Modalias: "acpi:QEMU0002:", Driver: "fw_cfg"},
		{Path: "/devices/pci0000:00/0000:00:00.0", Bus: "pci"},
		{Path: "/devices/pci0000:00/0000:00:02.0", Bus: "pci", Modalias: "pci:v000015ADd000007C0sv000015ADsd000007C0bc01sc00i00"},
		{Path: "/devices/pci0000:00/0000:00:03.0", Bus: "pci", Modalias: "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", Driver: "virtio-pci"},
		{Path: "/devices/virtual/input/input2", Bus: "input", Modalias: "input:b0019v0000p0001e0000-e0,1,k74,ramlsfw", Class: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Devices =\n%+v\nwant\n%+v", got, want)
	}
	var unclaimed []string
	for _, d := range got {
		if d.Unclaimed() {
			unclaimed = append(unclaimed, d.String())
		}
	}
	if w := []string{"pci 0000:00:02.0 (pci:v000015ADd000007C0sv000015ADsd000007C0bc01sc00i00)"}; !reflect.DeepEqual(unclaimed, w) {
		t.Errorf("unclaimed = %v, want %v", unclaimed, w)
	}
}

func BenchmarkMatchRootAliases(b *testing.B) {
	m := realAliases(b)
	for b.Loop() {
		m.Match("pci:v00008086d000010D3sv00001AF4sd00001100bc02sc00i00")
	}
}
