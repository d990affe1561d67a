package image

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"berth.dev/berth/internal/layout"
	"berth.dev/berth/update"
)

// liveESPMB is the size of the medium's ESP: systemd-boot, one kernel and
// one initramfs (about 14 MiB), as FAT16.
const liveESPMB = 32

// ISO writes out/images/berth.iso from out's release and disk.img: a
// hybrid ISO that boots by UEFI from a CD-ROM (El Torito) or, written
// with dd, from a USB stick (GPT), into the live system, whose installer
// writes the disk image's parts onto a disk (layout.Live*).
func ISO(out string, logf func(string, ...any)) error {
	rel := filepath.Join(out, "release")
	r, err := ReadRelease(filepath.Join(rel, "release.json"))
	if err != nil {
		return fmt.Errorf("iso: %w (run make image first)", err)
	}
	epoch := time.Unix(r.SourceDateEpoch, 0)
	work := filepath.Join(out, "work-iso")
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	defer os.RemoveAll(work)
	tree := filepath.Join(work, "tree")
	dir := filepath.Join(tree, layout.LiveDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"root.img", "release.json"} {
		if err := linkOrCopy(filepath.Join(rel, name), filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("iso: %w", err)
		}
	}
	if err := diskParts(filepath.Join(out, "disk.img"), dir); err != nil {
		return fmt.Errorf("iso: %w", err)
	}
	// The medium starts the disk's own boot loader: the one the image
	// was built with (the lock's [boot] package).
	bootEFI := filepath.Join(work, "systemd-boot.efi")
	if err := espCopyOut(filepath.Join(out, "disk.img"), layout.BootLoader, bootEFI); err != nil {
		return fmt.Errorf("iso: %w", err)
	}

	// The medium's own ESP: what the firmware starts.
	entry := filepath.Join(work, layout.LiveEntry)
	if err := os.WriteFile(entry, []byte(update.LiveEntry(r.Version, r.KernelArgs, r.Verity)), 0o644); err != nil {
		return err
	}
	loader := filepath.Join(work, "loader.conf")
	if err := os.WriteFile(loader, []byte(update.LoaderConf), 0o644); err != nil {
		return err
	}
	esp := filepath.Join(work, "esp.img")
	if err := MakeESP(esp, liveESPMB, []ESPFile{
		{bootEFI, layout.BootLoader},
		{loader, layout.LoaderConf},
		{entry, layout.EntriesDir + "/" + layout.LiveEntry},
		{filepath.Join(rel, "vmlinuz"), layout.LiveESPDir + "/vmlinuz"},
		{filepath.Join(rel, "initrd.img"), layout.LiveESPDir + "/initrd.img"},
	}, epoch); err != nil {
		return fmt.Errorf("iso: ESP: %w", err)
	}

	dst := filepath.Join(out, "images", "berth.iso")
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	_ = os.Remove(dst)
	// The ESP is appended as GPT partition 2, and El Torito's UEFI boot
	// image points at it: one copy serves the CD and the USB stick.
	args := []string{"-as", "mkisofs", "-o", dst, "-V", layout.LiveLabel, "-r", "-iso-level", "3",
		"-partition_offset", "16",
		// The tree's files keep their build times otherwise.
		"--set_all_file_dates", epoch.UTC().Format("20060102150405") + "00",
		"-append_partition", "2", "0xef", esp, "-appended_part_as_gpt",
		"-e", "--interval:appended_partition_2:all::", "-no-emul-boot",
		tree}
	// xorriso takes the volume's dates and UUID from SOURCE_DATE_EPOCH.
	if err := runEnv([]string{"SOURCE_DATE_EPOCH=" + strconv.FormatInt(r.SourceDateEpoch, 10)}, "xorriso", args...); err != nil {
		return fmt.Errorf("iso: %w", err)
	}
	if st, err := os.Stat(dst); err == nil {
		logf("%s: %.1f MiB", dst, float64(st.Size())/(1<<20))
	}
	return nil
}

// diskParts writes into dir what the installer takes from disk.img
// besides the root: its first MiB (the partition table) and its ESP,
// gzip-compressed.
func diskParts(disk, dir string) error {
	f, err := os.Open(disk)
	if err != nil {
		return err
	}
	defer f.Close()
	ext, size := layout.Plan(layout.Layout)
	if st, err := f.Stat(); err != nil || st.Size() != size {
		return fmt.Errorf("%s is not the layout's %d bytes: run make image", disk, size)
	}
	head := make([]byte, layout.MiB)
	if _, err := f.ReadAt(head, 0); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, layout.LiveDiskHead), head, 0o644); err != nil {
		return err
	}
	e := ext[layout.LabelESP]
	out, err := os.Create(filepath.Join(dir, layout.LiveESP))
	if err != nil {
		return err
	}
	defer out.Close()
	// No name or time in the header: reproducible.
	z, err := gzip.NewWriterLevel(out, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := io.Copy(z, io.NewSectionReader(f, e.Offset(), e.Size())); err != nil {
		return err
	}
	if err := z.Close(); err != nil {
		return err
	}
	return out.Close()
}

// espCopyOut copies one file off disk.img's ESP, with mtools (no mount).
func espCopyOut(disk, name, dst string) error {
	ext, _ := layout.Plan(layout.Layout)
	e := ext[layout.LabelESP]
	img := fmt.Sprintf("%s@@%d", disk, e.Offset())
	if err := run("mcopy", "-n", "-i", img, "::"+name, dst); err != nil {
		return fmt.Errorf("%s from %s's ESP: %w", name, disk, err)
	}
	return nil
}
