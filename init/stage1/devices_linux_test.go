package stage1

import (
	"strings"
	"testing"

	"berth.dev/berth/internal/kmod"
)

func TestDescribeUnclaimedPutsDiskBusesFirst(t *testing.T) {
	devs := []kmod.Device{
		{Path: "/devices/LNXSYSTM:00", Bus: "acpi", Modalias: "acpi:LNXSYSTM:"},
		{Path: "/devices/platform/pcspkr", Bus: "platform", Modalias: "platform:pcspkr"},
		{Path: "/devices/pci0000:00/0000:00:03.0", Bus: "pci", Modalias: "pci:v00001022d00002020sv00001AF4sd00001100bc01sc00i00"},
	}
	got := describeUnclaimed(devs)
	want := "devices no driver in the initramfs claimed: pci 0000:00:03.0 (pci:v00001022d00002020sv00001AF4sd00001100bc01sc00i00), platform pcspkr (platform:pcspkr)"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := describeUnclaimed(devs[:1]); !strings.Contains(got, "every device") {
		t.Errorf("ACPI nodes alone: %s", got)
	}
}
