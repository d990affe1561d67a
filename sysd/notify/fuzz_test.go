package notify

import "testing"

// sd_notify datagrams come from services: outside input.
func FuzzParse(f *testing.F) {
	f.Add([]byte("READY=1\nSTATUS=up\nMAINPID=42\nWATCHDOG_USEC=100\nERRNO=2\n"))
	f.Fuzz(func(t *testing.T, b []byte) { Parse(b) })
}
