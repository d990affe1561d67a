package kmod

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

func TestTreeModule(t *testing.T) {
	tr := testTree(t)
	file, deps, ok := tr.Module("br-netfilter")
	if !ok || file != "kernel/net/bridge/br_netfilter.ko" || !reflect.DeepEqual(deps, []string{"kernel/net/bridge/bridge.ko", "kernel/net/802/stp.ko", "kernel/net/llc/llc.ko"}) {
		t.Errorf("br-netfilter: %q %v %v", file, deps, ok)
	}
	if file, deps, ok := tr.Module("llc"); !ok || file != "kernel/net/llc/llc.ko" || len(deps) != 0 {
		t.Errorf("llc: %q %v %v", file, deps, ok)
	}
	// A compressed file and a dash in it: the kernel's name is virtio_net.
	if file, _, ok := tr.Module("virtio_net"); !ok || file != "kernel/drivers/net/virtio-net.ko.xz" {
		t.Errorf("virtio_net: %q %v", file, ok)
	}
	if _, _, ok := tr.Module("stp"); ok {
		t.Error("stp has no line of its own in this modules.dep, but was found")
	}
	if !tr.Builtin("ext4") || !tr.Builtin("virtio-blk") || tr.Builtin("bridge") {
		t.Error("Builtin: wrong answers for ext4, virtio-blk, bridge")
	}
	if got := tr.Resolve("fs-ext4"); !reflect.DeepEqual(got, []string{"ext4"}) {
		t.Errorf("Resolve(fs-ext4) = %v", got)
	}
	// BuildKit's request for an arm64 emulator: no alias, no module.
	if got := tr.Resolve("binfmt-00b7"); !reflect.DeepEqual(got, []string{"binfmt-00b7"}) {
		t.Errorf("Resolve(binfmt-00b7) = %v", got)
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/fs/xfs/xfs.ko.xz": "xfs", "nf-tables": "nf_tables", "kernel/a/b-c.ko": "b_c", "loop": "loop",
		"kernel/x/y.ko.zst": "y", "kernel/x/z.ko.gz": "z",
	} {
		if got := ModuleName(in); got != want {
			t.Errorf("ModuleName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadTreeNeedsDep(t *testing.T) {
	if _, err := ReadTree(t.TempDir()); !os.IsNotExist(err) {
		t.Fatalf("err = %v, want not-exist for modules.dep", err)
	}
}

// testTree is a small module tree as depmod writes it.
func testTree(t *testing.T) *Tree {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"modules.dep": "kernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko kernel/net/802/stp.ko kernel/net/llc/llc.ko\n" +
			"kernel/net/llc/llc.ko:\n" +
			"kernel/drivers/net/virtio-net.ko.xz: kernel/drivers/net/net_failover.ko\n",
		"modules.builtin": "kernel/fs/ext4/ext4.ko\nkernel/drivers/block/virtio_blk.ko\n",
		"modules.alias":   "alias binfmt-0064 binfmt_aout\nalias fs-ext4 ext4\nalias virtio:d00000001v* virtio_net\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := ReadTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestCompressed(t *testing.T) {
	for in, want := range map[string]bool{
		"kernel/fs/xfs/xfs.ko.xz": true, "kernel/x/y.ko.zst": true, "kernel/x/z.ko.gz": true,
		"kernel/a/b.ko": false, "kernel/a/xz.ko": false,
	} {
		if got := compressed(in); got != want {
			t.Errorf("compressed(%q) = %v, want %v", in, got, want)
		}
	}
}

// What LoadAll reads answers Load's questions as the whole tree does, and
// leaves modules.alias unread.
func TestLoadIndexesSkipAliases(t *testing.T) {
	full := testTree(t)
	lt, err := readLoadIndexes(full.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if lt.alias != nil {
		t.Errorf("modules.alias was read: %q", lt.alias)
	}
	if got := lt.Resolve("fs-ext4"); !slices.Equal(got, []string{"fs-ext4"}) {
		t.Errorf("Resolve without aliases = %v, want the name itself", got)
	}
	for _, m := range []string{"br_netfilter", "virtio_net", "llc", "nosuch"} {
		f1, d1, ok1 := full.Module(m)
		f2, d2, ok2 := lt.Module(m)
		if f1 != f2 || !slices.Equal(d1, d2) || ok1 != ok2 {
			t.Errorf("Module(%q): %q %v %v, want %q %v %v", m, f2, d2, ok2, f1, d1, ok1)
		}
	}
	if !lt.Builtin("ext4") || lt.Builtin("llc") {
		t.Error("Builtin differs from the full tree's")
	}
}
