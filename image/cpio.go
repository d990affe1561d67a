package image

import (
	"compress/gzip"
	"fmt"
	"io"

	"github.com/u-root/u-root/pkg/cpio"
)

// WriteInitramfs writes t as a gzip-compressed newc archive, the format the
// kernel unpacks. Entries are sorted and their owners and times zeroed.
func WriteInitramfs(w io.Writer, t Tree) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	cw := cpio.Newc.Writer(zw)
	for i, p := range t.Paths() {
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
		rec.Ino = uint64(i + 1)
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
