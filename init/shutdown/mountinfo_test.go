package shutdown

import (
	"reflect"
	"strings"
	"testing"
)

const sample = `22 1 0:20 / / ro,relatime - squashfs /dev/vda2 ro
23 22 0:5 / /dev rw - devtmpfs devtmpfs rw
24 22 0:21 / /proc rw - proc proc rw
25 22 0:22 / /sys rw - sysfs sysfs rw
26 22 0:23 / /run rw - tmpfs tmpfs rw
27 22 254:4 / /state rw - ext4 /dev/vda4 rw
28 22 0:24 / /etc rw - overlay overlay rw,lowerdir=/etc
29 22 254:4 /var /var rw - ext4 /dev/vda4 rw
30 23 0:25 / /dev/pts rw - devpts devpts rw
31 26 0:26 / /run/a\040b rw - tmpfs tmpfs rw
`

func TestTeardownOrder(t *testing.T) {
	ms := ParseMountinfo(strings.NewReader(sample))
	if len(ms) != 10 || ms[5].Source != "/dev/vda4" || ms[9].Target != "/run/a b" {
		t.Fatalf("parsed %+v", ms)
	}
	got := TeardownOrder(ms)
	want := []string{"/run/a b", "/dev/pts", "/var", "/etc", "/state", "/run"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
