// Package copyfile copies a file, streaming, for the image builder and the
// release publisher.
package copyfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Copy copies src to dst, streaming (a root image is large), with src's
// permission bits; dst's directory is made when missing. Equivalent to:
// `install -D src dst` (with src's mode).
func Copy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return out.Close()
}
