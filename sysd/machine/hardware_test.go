package machine

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"berth.dev/berth/internal/kmod"
)

func TestFirmwareObserve(t *testing.T) {
	var f Firmware
	for _, line := range []string{
		"<4> e100 0000:00:06.0: Direct firmware load for e100/d101m_ucode.bin failed with error -2",
		"<3> i915 0000:00:02.0: firmware: failed to load i915/kbl_dmc_ver1_04.bin (-2)",
		"<4> rtl8169 0000:03:00.0: Direct firmware load for rtl_nic/rtl8168h-2.fw failed with error -12",
		"<6> e1000e 0000:00:02.0 eth0: registered PHC clock",
		"<4> e100 0000:00:06.0: Direct firmware load for e100/d101m_ucode.bin failed with error -2", // again
	} {
		f.Observe(line)
	}
	want := []string{
		"e100 (0000:00:06.0) asked for firmware e100/d101m_ucode.bin, which this image does not have",
		"i915 (0000:00:02.0) asked for firmware i915/kbl_dmc_ver1_04.bin, which this image does not have",
		"rtl8169 (0000:03:00.0) could not load firmware rtl_nic/rtl8168h-2.fw (error -12)",
	}
	if got := f.Missing(); !reflect.DeepEqual(got, want) {
		t.Errorf("Missing =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestHardwareNames(t *testing.T) {
	sys := t.TempDir()
	dev := filepath.Join(sys, "devices/pci0000:00/0000:00:02.0")
	os.MkdirAll(filepath.Join(dev, "net/eth0"), 0o755)
	os.WriteFile(filepath.Join(dev, "modalias"), []byte("pci:v00008086d000010D3sv00001AF4sd00001100bc02sc00i00\n"), 0o444)
	os.MkdirAll(filepath.Join(sys, "bus/pci/devices"), 0o755)
	os.Symlink(dev, filepath.Join(sys, "bus/pci/devices/0000:00:02.0"))
	os.MkdirAll(filepath.Join(sys, "class"), 0o755)
	a, err := kmod.ParseAliases(strings.NewReader("alias pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e\n"))
	if err != nil {
		t.Fatal(err)
	}
	hw, err := Hardware(sys, a.Matcher())
	if err != nil {
		t.Fatal(err)
	}
	if len(hw.Devices) != 1 || !reflect.DeepEqual(hw.Devices[0].Names, []string{"eth0"}) ||
		!reflect.DeepEqual(hw.Devices[0].Modules, []string{"e1000e"}) || !hw.Devices[0].Unclaimed() {
		t.Errorf("Hardware = %+v", hw)
	}
}
