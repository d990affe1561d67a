package image

import (
	"reflect"
	"strings"
	"testing"
)

const dep = `kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/drivers/gpu/drm/drm.ko: kernel/lib/crc16.ko
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/net/wireless/x.ko:
kernel/drivers/net/veth.ko:
`

func TestModDep(t *testing.T) {
	d, err := ParseModDep(strings.NewReader(dep))
	if err != nil {
		t.Fatal(err)
	}
	paths, err := d.ByName([]string{"ext4", "virtio-pci"})
	if err != nil {
		t.Fatal(err)
	}
	got := d.Closure(paths)
	want := []string{
		"kernel/drivers/virtio/virtio_pci.ko", "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
		"kernel/fs/ext4/ext4.ko", "kernel/fs/jbd2/jbd2.ko", "kernel/fs/mbcache.ko", "kernel/lib/crc16.ko",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("closure %v", got)
	}
	if _, err := d.ByName([]string{"nosuch"}); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Fatalf("missing module: %v", err)
	}
	inc, exc := ParsePrefixes("kernel/fs/ # file systems\nkernel/drivers/net/\n!kernel/drivers/net/wireless/\n")
	sel := d.Select(inc, exc)
	want = []string{"kernel/drivers/net/veth.ko", "kernel/fs/ext4/ext4.ko", "kernel/fs/jbd2/jbd2.ko", "kernel/fs/mbcache.ko"}
	if !reflect.DeepEqual(sel, want) {
		t.Fatalf("select %v", sel)
	}
}
