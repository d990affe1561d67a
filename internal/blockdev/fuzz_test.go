package blockdev

import (
	"bytes"
	"strings"
	"testing"
)

// sysfs uevents and the first bytes of a disk are outside input (any
// disk can be attached).
func FuzzDisk(f *testing.F) {
	f.Add("MAJOR=254\nMINOR=2\nDEVNAME=vda2\nPARTNAME=ROOT-A\n", make([]byte, 2048))
	f.Fuzz(func(t *testing.T, uevent string, head []byte) {
		ParseUevent(strings.NewReader(uevent))
		FSType(head)
		// A volume label is found only where the fuzzed bytes hold it.
		if VolumeType(head, "CIDATA") != "" && !bytes.Contains(bytes.ToUpper(head), []byte("CIDATA")) {
			t.Fatalf("CIDATA found in bytes without it")
		}
		r := bytes.NewReader(head)
		if k, err := Ext4At(r); err == nil && k == Ext4Present {
			Ext4Clean(r)
			if n, err := Ext4Size(r); err == nil && n < 0 {
				t.Fatalf("negative size %d", n)
			}
		}
	})
}
