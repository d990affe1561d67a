package qemu

import (
	"path/filepath"

	"berth.dev/berth/internal/layout"
	"berth.dev/berth/update"
)

// Build is what `make image` left in the build directory.
type Build struct {
	Dir, Disk, Kernel, Initrd string
}

// BuildAt names the artefacts of the build directory dir.
func BuildAt(dir string) Build {
	return Build{
		Dir:    dir,
		Disk:   filepath.Join(dir, "disk.img"),
		Kernel: filepath.Join(dir, "release", "vmlinuz"),
		Initrd: filepath.Join(dir, "release", "initrd.img"),
	}
}

// Direct is a VM that boots the build's kernel and initramfs directly,
// as slot slot, from a copy-on-write overlay of its disk. Its command
// line is the boot entry's, with the build's root hash: the disk's slot A
// holds the build's root image.
func (b Build) Direct(slot string) Config {
	var r update.Release
	if got, err := update.ReadRelease(filepath.Join(b.Dir, "release", "release.json")); err == nil {
		r = got
	}
	return Config{Disk: b.Disk, Kernel: b.Kernel, Initrd: b.Initrd, Append: layout.Cmdline(slot, r.KernelArgs, r.Verity)}
}
