package kmod

import (
	"strings"
	"testing"
)

func TestParseUevent(t *testing.T) {
	msg := "add@/devices/pci0000:00/0000:00:03.0\x00ACTION=add\x00DEVPATH=/devices/pci0000:00/0000:00:03.0\x00SUBSYSTEM=pci\x00MODALIAS=pci:v00008086d000010D3sv00001AF4sd00001100bc02sc00i00\x00SEQNUM=1234\x00"
	ev, err := ParseUevent([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Action != "add" || ev.DevPath != "/devices/pci0000:00/0000:00:03.0" || ev.Subsystem != "pci" ||
		ev.Modalias != "pci:v00008086d000010D3sv00001AF4sd00001100bc02sc00i00" || ev.Env["SEQNUM"] != "1234" {
		t.Errorf("ParseUevent = %+v", ev)
	}
	for _, bad := range []string{
		"libudev\x00\xfe\xed\xca\xfe",                           // udevd's rebroadcast
		"add@/devices/x\x00ACTION=remove\x00DEVPATH=/devices/x", // disagrees
		"add@/devices/x\x00ACTION=add\x00garbage",
		"",
		"add@" + strings.Repeat("x", 9000),
	} {
		if _, err := ParseUevent([]byte(bad)); err == nil {
			t.Errorf("ParseUevent(%q) accepted", bad)
		}
	}
}

func FuzzParseUevent(f *testing.F) {
	f.Add([]byte("add@/devices/virtual/net/eth1\x00ACTION=add\x00DEVPATH=/devices/virtual/net/eth1\x00SUBSYSTEM=net\x00"))
	f.Add([]byte("remove@/x\x00ACTION=remove\x00DEVPATH=/x\x00MODALIAS=\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseUevent(b)
		if err == nil && (ev.Action == "" || !strings.HasPrefix(ev.DevPath, "/")) {
			t.Fatalf("accepted %q as %+v", b, ev)
		}
	})
}
