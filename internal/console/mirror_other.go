//go:build !linux

package console

import "io"

// Mirror returns w: other consoles are Linux's.
func Mirror(w io.Writer) io.Writer { return w }
