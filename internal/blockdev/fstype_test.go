package blockdev

import "testing"

func TestFSType(t *testing.T) {
	sq := append([]byte("hsqs"), make([]byte, 1024)...)
	ero := make([]byte, 1028)
	copy(ero[1024:], []byte{0xe2, 0xe1, 0xf5, 0xe0})
	for _, tc := range []struct {
		head []byte
		want string
	}{{sq, "squashfs"}, {ero, "erofs"}, {make([]byte, 1028), ""}, {[]byte("hs"), ""}, {ero[:1027], ""}} {
		if got := FSType(tc.head); got != tc.want {
			t.Errorf("FSType(%d bytes) = %q, want %q", len(tc.head), got, tc.want)
		}
	}
}
