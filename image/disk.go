package image

import (
	"fmt"
	"io"
	"os"

	"berth.dev/berth/internal/layout"
)

// MakeDisk writes a sparse raw GPT disk with the layout and copies each
// partition's image (label → host file) into place. Partitions without an
// image stay zero: ROOT-B empty, STATE formatted by init on first boot.
func MakeDisk(out string, images map[string]string) error {
	ext, size := layout.Plan(layout.Layout)
	_ = os.Remove(out)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	if err := run("sgdisk", append(layout.SgdiskArgs(layout.Layout, ext), out)...); err != nil {
		return err
	}
	for label, src := range images {
		e, ok := ext[label]
		if !ok {
			return fmt.Errorf("disk: no partition labelled %s", label)
		}
		if err := copyInto(f, e, src); err != nil {
			return fmt.Errorf("disk: write %s into %s: %w", src, label, err)
		}
	}
	return f.Sync()
}

func copyInto(f *os.File, e layout.Extent, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if st.Size() > e.Size() {
		return fmt.Errorf("%d bytes do not fit in %d", st.Size(), e.Size())
	}
	_, err = io.Copy(io.NewOffsetWriter(f, e.Offset()), in)
	return err
}
