package image

import (
	"compress/gzip"
	"fmt"
	"io"

	"github.com/u-root/u-root/pkg/cpio"
)

// WriteInitramfs writes the layers as concatenated newc archives, each in
// its own gzip member, the form the kernel unpacks in order. Entries are
// sorted and their owners and times zeroed.
//
// Layers keep a delta update small: a release that changes only what a
// later layer holds leaves the earlier members' bytes as they were (one
// gzip stream would change from the first difference to its end).
func WriteInitramfs(w io.Writer, layers ...Tree) error {
	ino := uint64(0)
	for _, t := range layers {
		if err := writeArchive(w, t, &ino); err != nil {
			return err
		}
	}
	return nil
}

// writeArchive writes one gzip-compressed newc archive; ino numbers its
// entries on from the layers before.
func writeArchive(w io.Writer, t Tree, ino *uint64) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	cw := cpio.Newc.Writer(zw)
	for _, p := range t.Paths() {
		e := t[p]
		name := p[1:] // newc names are relative
		var rec cpio.Record
		switch e.Kind {
		case Dir:
			rec = cpio.Directory(name, uint64(e.Mode))
		case Link:
			rec = cpio.Symlink(name, e.Target)
		case CharDev:
			rec = cpio.CharDev(name, uint64(e.Mode), uint64(e.Major), uint64(e.Minor))
		default:
			b, err := e.Content()
			if err != nil {
				return err
			}
			rec = cpio.StaticFile(name, string(b), uint64(e.Mode))
		}
		// Distinct inode numbers: equal ones would read back as hard links.
		*ino++
		rec.Ino = *ino
		rec.NLink = 1
		if err := cw.WriteRecord(cpio.MakeReproducible(rec)); err != nil {
			return fmt.Errorf("initramfs: write %s: %w", p, err)
		}
	}
	if err := cpio.WriteTrailer(cw); err != nil {
		return fmt.Errorf("initramfs: trailer: %w", err)
	}
	return zw.Close()
}
