package image

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"berth.dev/berth/internal/copyfile"
	"berth.dev/berth/internal/kmod"
	"berth.dev/berth/internal/layout"
	"berth.dev/berth/internal/osrelease"
	"berth.dev/berth/update"
)

// Config says what to build and where.
type Config struct {
	Version string
	Epoch   time.Time // SOURCE_DATE_EPOCH: every timestamp in the image
	Rootfs  string    // the repository's rootfs/ directory
	Bin     string    // directory holding the built berth-init, sysd and berth-container-init
	Out     string    // writes Out/disk.img and Out/release/
	Cache   string    // downloaded .deb files, kept between builds
	// Apt is the builder's apt state (lists, configuration): build/apt;
	// empty means Out/apt.
	Apt string
	// TrustedRoot is the root.json of the release repository the image
	// trusts for updates; empty: the image has none and cannot update.
	TrustedRoot string
	// Overlay is a directory laid over the root file system last: a
	// site's own units and files, or a test's.
	Overlay string
	// KernelArgs are added to layout.KernelArgs for the release's boots:
	// a site's own (a serial port at another speed, an IOMMU setting), or
	// a test's. release.json carries them to every slot the release is
	// written to.
	KernelArgs []string
	// NoDisk skips disk.img: a release for the repository only.
	NoDisk bool
	Logf   func(format string, args ...any)
}

func (c Config) apt() Apt {
	dir := c.Apt
	if dir == "" {
		dir = filepath.Join(c.Out, "apt")
	}
	return NewApt(c.Rootfs, dir, c.Cache)
}

func (c Config) work(p ...string) string {
	return filepath.Join(append([]string{c.Out, "work"}, p...)...)
}

// Build makes the release parts and the disk image.
func Build(c Config) error {
	args := append(append([]string(nil), layout.KernelArgs...), c.KernelArgs...)
	if err := layout.CheckKernelArgs(args, nil); err != nil {
		return fmt.Errorf("-kernel-arg: %w", err)
	}
	lock, err := ReadLock(filepath.Join(c.Rootfs, "packages.lock"))
	if err != nil {
		return err
	}
	if err := os.RemoveAll(c.work()); err != nil {
		return err
	}
	rel := filepath.Join(c.Out, "release")
	if err := os.MkdirAll(rel, 0o755); err != nil {
		return err
	}

	c.Logf("kernel: %v", lock["kernel"])
	k, err := unpackKernel(c, lock["kernel"])
	if err != nil {
		return err
	}
	if err := copyfile.Copy(filepath.Join(k.dir, "boot", "vmlinuz-"+k.ver), filepath.Join(rel, "vmlinuz")); err != nil {
		return err
	}

	c.Logf("initramfs")
	initrd, err := initrdTree(c, k)
	if err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(rel, "initrd.img"))
	if err != nil {
		return err
	}
	if err := WriteInitramfs(f, initrdLayers(initrd)...); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}

	c.Logf("root image")
	root, err := rootTree(c, k, lock["root"])
	if err != nil {
		return err
	}
	sizes, err := containerImages(c, lock, root)
	if err != nil {
		return err
	}
	for name, n := range sizes {
		c.Logf("system container image %s: %.1f MiB", name, float64(n)/(1<<20))
	}
	if err := Materialize(root, c.work("root")); err != nil {
		return fmt.Errorf("root image: %w", err)
	}
	if err := Squashfs(c.work("root"), filepath.Join(rel, "root.img"), c.Epoch, Zstd); err != nil {
		return err
	}
	v, err := AppendVerity(filepath.Join(rel, "root.img"))
	if err != nil {
		return err
	}
	c.Logf("root image: dm-verity root hash %s", v.RootHash)

	r, err := Describe(rel, c.Version, k.ver, c.Epoch.Unix())
	if err != nil {
		return err
	}
	r.Verity = &v
	r.KernelArgs = args
	if err := r.WriteJSON(filepath.Join(rel, "release.json")); err != nil {
		return err
	}

	if c.NoDisk {
		return nil
	}
	c.Logf("disk image: boot loader %v", lock["boot"])
	bootEFI, err := bootLoader(c, lock["boot"])
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.work("entry-a.conf"), []byte(update.BootEntry("A", c.Version, 1, r.KernelArgs, r.Verity)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(c.work("loader.conf"), []byte(update.LoaderConf), 0o644); err != nil {
		return err
	}
	if err := writeRootIndex(filepath.Join(rel, "root.img"), c.work(layout.RootIndex)); err != nil {
		return err
	}
	esp := c.work("esp.img")
	if err := MakeESP(esp, layout.Layout[0].SizeMB, []ESPFile{
		{bootEFI, layout.BootLoader},
		{c.work("loader.conf"), layout.LoaderConf},
		{c.work("entry-a.conf"), layout.EntriesDir + "/" + update.Entry{Slot: "A"}.Name()},
		{filepath.Join(rel, "vmlinuz"), layout.ESPDir("A") + "/vmlinuz"},
		{filepath.Join(rel, "initrd.img"), layout.ESPDir("A") + "/initrd.img"},
		{c.work(layout.RootIndex), layout.ESPDir("A") + "/" + layout.RootIndex},
	}, c.Epoch); err != nil {
		return fmt.Errorf("ESP: %w", err)
	}
	return MakeDisk(filepath.Join(c.Out, "disk.img"), map[string]string{
		layout.LabelESP:   esp,
		layout.LabelRootA: filepath.Join(rel, "root.img"),
	})
}

// ReadLock reads rootfs/packages.lock and checks that it has the groups
// every build needs.
func ReadLock(path string) (Lock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read package lock: %w (run `make lock`)", err)
	}
	defer f.Close()
	l, err := ParseLock(path, f)
	if err != nil {
		return nil, err
	}
	for _, g := range []string{"kernel", "boot", "root"} {
		if len(l[g]) == 0 {
			return nil, fmt.Errorf("%s: no [%s] group (run `make lock`)", path, g)
		}
	}
	return l, nil
}

type kernel struct {
	dir, ver string
	dep      ModDep
	builtin  map[string]bool // module names built into the kernel
}

func (k kernel) modDir() string { return filepath.Join(k.dir, "lib/modules", k.ver) }

// unpackKernel extracts the kernel package and makes the modules.dep that
// Debian's package leaves to its maintainer scripts.
func unpackKernel(c Config, pkgs []Pkg) (kernel, error) {
	k := kernel{dir: c.work("kernel")}
	debs, err := c.apt().Fetch(pkgs)
	if err != nil {
		return k, err
	}
	if err := Extract(debs, k.dir); err != nil {
		return k, err
	}
	// Debian 13 ships the modules under /usr/lib/modules (merged /usr);
	// depmod -b and the images keep them at /lib/modules.
	if _, err := os.Stat(filepath.Join(k.dir, "usr/lib/modules")); err == nil {
		if err := os.MkdirAll(filepath.Join(k.dir, "lib"), 0o755); err != nil {
			return k, err
		}
		if err := os.Rename(filepath.Join(k.dir, "usr/lib/modules"), filepath.Join(k.dir, "lib/modules")); err != nil {
			return k, fmt.Errorf("kernel package: %w", err)
		}
	}
	vers, _ := filepath.Glob(filepath.Join(k.dir, "lib/modules/*"))
	if len(vers) != 1 {
		return k, fmt.Errorf("kernel package: want one lib/modules/VERSION, found %v", vers)
	}
	k.ver = filepath.Base(vers[0])
	if err := depmod(k.dir, k.ver); err != nil {
		return k, err
	}
	f, err := os.Open(filepath.Join(k.modDir(), "modules.dep"))
	if err != nil {
		return k, err
	}
	defer f.Close()
	if k.dep, err = ParseModDep(f); err != nil {
		return k, err
	}
	b, err := os.ReadFile(filepath.Join(k.modDir(), "modules.builtin"))
	if err != nil {
		return k, err
	}
	k.builtin = map[string]bool{}
	for _, p := range strings.Fields(string(b)) {
		k.builtin[ModName(p)] = true
	}
	return k, nil
}

// byName resolves a module list's names to module paths. A name built
// into this kernel (Debian 13 builds virtio_pci in) needs no file: the
// loader finds it in modules.builtin and counts it loaded.
func (k kernel) byName(names []string) ([]string, error) {
	var loadable []string
	for _, n := range names {
		if !k.builtin[strings.ReplaceAll(n, "-", "_")] {
			loadable = append(loadable, n)
		}
	}
	return k.dep.ByName(loadable)
}

func depmod(base, ver string) error {
	if out, err := exec.Command("depmod", "-b", base, ver).CombinedOutput(); err != nil {
		return fmt.Errorf("depmod -b %s %s: %w: %s", base, ver, err, out)
	}
	return nil
}

// stageModules puts the given modules (with their dependencies) in a
// module tree of their own, runs depmod there so that modules.dep and
// modules.alias list exactly them, and adds it to t.
//
// With unpack, compressed modules (Debian 13's .ko.xz) are staged
// decompressed: the initramfs is compressed whole, and does better over
// plain ELF. Without it they stay Debian's files, which the loader hands
// to the kernel to decompress: in the root image that is 38.9 MB instead
// of 44.4 as plain modules in its zstd, and an unchanged module is still
// the same bytes for a delta update.
func stageModules(c Config, k kernel, name string, mods []string, unpack bool, t Tree) error {
	base := c.work(name)
	if err := os.RemoveAll(base); err != nil {
		return err
	}
	dst := filepath.Join(base, "lib/modules", k.ver)
	for _, m := range k.dep.Closure(mods) {
		var err error
		if unpack && strings.HasSuffix(m, ".ko.xz") {
			err = unxz(filepath.Join(k.modDir(), m), filepath.Join(dst, strings.TrimSuffix(m, ".xz")))
		} else {
			err = linkOrCopy(filepath.Join(k.modDir(), m), filepath.Join(dst, m))
		}
		if err != nil {
			return err
		}
	}
	for _, f := range []string{"modules.order", "modules.builtin", "modules.builtin.modinfo"} {
		if err := linkOrCopy(filepath.Join(k.modDir(), f), filepath.Join(dst, f)); err != nil {
			return err
		}
	}
	if err := depmod(base, k.ver); err != nil {
		return err
	}
	return t.CopyDir("/lib/modules/"+k.ver, dst)
}

// initrdTree is the initramfs: stage 1 and the boot modules.
func initrdTree(c Config, k kernel) (Tree, error) {
	t := Tree{}
	t.Mkdir(0o755, "/dev", "/proc", "/sys", "/run", "/newroot", "/sbin", "/etc")
	t.Mkdir(0o1777, "/tmp")
	// The kernel opens /dev/console for init before devtmpfs is mounted.
	t.Add("/dev/console", Entry{Kind: CharDev, Mode: 0o600, Major: 5, Minor: 1})
	if err := t.Copy("/init", filepath.Join(c.Bin, "berth-init")); err != nil {
		return nil, err
	}
	t.File("/etc/os-release", 0o644, []byte(osrelease.Render(c.Version)))

	list, err := os.ReadFile(filepath.Join(c.Rootfs, "modules/initrd.list"))
	if err != nil {
		return nil, err
	}
	t.File("/etc/berth/modules", 0o644, list)
	mods, err := k.byName(moduleNames(string(list)))
	if err != nil {
		return nil, fmt.Errorf("rootfs/modules/initrd.list: %w", err)
	}
	// The drivers stage 1 loads only for a device that asks for one: they
	// are carried, and modules.alias (which depmod writes for exactly the
	// staged modules) says which device wants which.
	cold, err := os.ReadFile(filepath.Join(c.Rootfs, "modules/initrd.coldplug"))
	if err != nil {
		return nil, err
	}
	coldMods, err := k.byName(moduleNames(string(cold)))
	if err != nil {
		return nil, fmt.Errorf("rootfs/modules/initrd.coldplug: %w", err)
	}
	if err := stageModules(c, k, "initrd-modules", append(mods, coldMods...), true, t); err != nil {
		return nil, err
	}

	return t, nil
}

// initrdLayers splits the initramfs by how often its parts change: the
// modules and the skeleton with the kernel, stage 1's binary with the
// code, os-release with every version. A version-only release then
// changes the last gzip member alone.
func initrdLayers(t Tree) []Tree {
	layers := []Tree{t}
	for _, p := range []string{"/init", "/etc/os-release"} {
		layers = append(layers, Tree{p: t[p]})
		delete(t, p)
	}
	return layers
}

// rootTree is the slot's read-only root file system.
func rootTree(c Config, k kernel, pkgs []Pkg) (Tree, error) {
	t := Tree{}
	t.Mkdir(0o755, "/dev", "/proc", "/sys", "/run", "/var", "/etc", "/home", "/mnt",
		"/usr/bin", "/usr/sbin", "/usr/lib/berth", "/bin")
	t.Mkdir(0o700, "/root", "/state")
	t.Mkdir(0o1777, "/tmp")
	if err := t.Copy("/sbin/init", filepath.Join(c.Bin, "berth-init")); err != nil {
		return nil, err
	}
	t.Symlink("/sbin/modprobe", "init")
	for _, b := range [][2]string{{layout.SysdPath, "sysd"}, {"/usr/lib/berth/container-init", "berth-container-init"}} {
		if err := t.Copy(b[0], filepath.Join(c.Bin, b[1])); err != nil {
			return nil, err
		}
	}
	t.File("/usr/lib/os-release", 0o644, []byte(osrelease.Render(c.Version)))
	t.Symlink("/etc/os-release", "../usr/lib/os-release")
	t.Symlink("/usr/bin/os-ctl", "../lib/berth/sysd")
	if err := t.CopyDir("/", filepath.Join(c.Rootfs, "files")); err != nil {
		return nil, fmt.Errorf("rootfs/files: %w", err)
	}
	if c.TrustedRoot != "" {
		if err := t.Copy(update.TrustedRootPath, c.TrustedRoot); err != nil {
			return nil, fmt.Errorf("trusted root: %w", err)
		}
	}
	if err := t.CopyDir("/usr/lib/berth/services", filepath.Join(c.Rootfs, "services")); err != nil {
		return nil, fmt.Errorf("rootfs/services: %w", err)
	}
	if c.Overlay != "" {
		if err := t.CopyDir("/", c.Overlay); err != nil {
			return nil, fmt.Errorf("overlay %s: %w", c.Overlay, err)
		}
	}

	// e2fsprogs: stage 1 runs mke2fs and e2fsck from here, before the
	// switch, with the root's own loader and libraries; sysd runs
	// fsck.fat on the ESP, and resize2fs when STATE grows.
	debs, err := c.apt().Fetch(pkgs)
	if err != nil {
		return nil, err
	}
	pkgRoot := c.work("root-pkgs")
	if err := Extract(debs, pkgRoot); err != nil {
		return nil, err
	}
	// Debian 13's packages install into /usr only; the programs keep the
	// paths stage 1 runs them by (/sbin/mke2fs) through the aliases a
	// merged-/usr system has.
	if err := mergedUsr(pkgRoot); err != nil {
		return nil, err
	}
	for _, bin := range []string{"/sbin/mke2fs", "/sbin/e2fsck", "/sbin/resize2fs", "/sbin/fsck.fat"} {
		if err := AddELF(t, pkgRoot, bin); err != nil {
			return nil, fmt.Errorf("root image: %w", err)
		}
	}
	if err := t.Copy("/etc/mke2fs.conf", filepath.Join(pkgRoot, "etc/mke2fs.conf")); err != nil {
		return nil, err
	}
	// The time zones, without tzdata's posix/ and right/ copies.
	if err := t.CopyDir("/usr/share/zoneinfo", filepath.Join(pkgRoot, "usr/share/zoneinfo")); err != nil {
		return nil, fmt.Errorf("root image: zoneinfo: %w", err)
	}
	for p := range t {
		if strings.HasPrefix(p, "/usr/share/zoneinfo/posix") || strings.HasPrefix(p, "/usr/share/zoneinfo/right") {
			delete(t, p)
		}
	}

	list, err := os.ReadFile(filepath.Join(c.Rootfs, "modules/boot.list"))
	if err != nil {
		return nil, err
	}
	t.File("/etc/berth/modules", 0o644, list)
	boot, err := k.byName(moduleNames(string(list)))
	if err != nil {
		return nil, fmt.Errorf("rootfs/modules/boot.list: %w", err)
	}
	inc, err := os.ReadFile(filepath.Join(c.Rootfs, "modules/root.include"))
	if err != nil {
		return nil, err
	}
	include, exclude := ParsePrefixes(string(inc))
	mods := append(k.dep.Select(include, exclude), boot...)
	if err := stageModules(c, k, "root-modules", mods, false, t); err != nil {
		return nil, err
	}
	return t, nil
}

// moduleNames is a module list without its "-" barriers.
func moduleNames(list string) []string {
	var out []string
	for _, n := range kmod.ParseList(list) {
		if n != "-" {
			out = append(out, n)
		}
	}
	return out
}

func linkOrCopy(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if os.Link(src, dst) == nil {
		return nil
	}
	return copyfile.Copy(src, dst)
}
