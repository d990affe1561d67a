package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// WriteSlot streams the verified root image src into the inactive slot's
// partition dev, syncs it, and reads back what the device then holds: it
// must have the signed length and SHA-256, or the slot is not installed.
// progress, if not nil, sees "write" and then "verify" bytes.
func WriteSlot(ctx context.Context, dev, src string, want Target, progress func(stage string, done, total int64)) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("write slot %s: %w", dev, err)
	}
	defer in.Close()
	out, err := openSlot(dev, want.Length)
	if err != nil {
		return err
	}
	defer out.Close()
	w := &counter{w: ctxWriter{ctx, out}, total: want.Length, progress: stage(progress, "write")}
	if _, err := io.Copy(w, io.LimitReader(in, want.Length)); err != nil {
		return fmt.Errorf("write slot %s: %w", dev, err)
	}
	if w.n != want.Length {
		return fmt.Errorf("write slot %s: %s holds %d bytes, want %d", dev, src, w.n, want.Length)
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("write slot %s: fsync: %w", dev, err)
	}
	// Read back from the device, not from the page cache we just filled.
	if err := dropCache(out); err != nil {
		return fmt.Errorf("write slot %s: drop cached pages: %w", dev, err)
	}
	if err := VerifySlot(dev, want, progress); err != nil {
		return fmt.Errorf("write slot %s: %w: the device did not keep what was written", dev, err)
	}
	return nil
}

// openSlot opens the inactive slot's partition for writing, at its
// start, if a root image of length bytes fits.
func openSlot(dev string, length int64) (*os.File, error) {
	out, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("write slot %s: %w", dev, err)
	}
	size, err := out.Seek(0, io.SeekEnd)
	if err == nil && size < length {
		err = fmt.Errorf("the root image is %d bytes, the partition only %d", length, size)
	}
	if err == nil {
		_, err = out.Seek(0, io.SeekStart)
	}
	if err != nil {
		out.Close()
		return nil, fmt.Errorf("write slot %s: %w", dev, err)
	}
	return out, nil
}

// ctxWriter stops a copy once ctx ends (the update was cancelled).
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// stage names the bytes a counter reports.
func stage(progress func(string, int64, int64), name string) func(int64, int64) {
	if progress == nil {
		return nil
	}
	return func(done, total int64) { progress(name, done, total) }
}

// VerifySlot reads the slot's partition and checks that it begins with
// the signed length and SHA-256 of the root image.
func VerifySlot(dev string, want Target, progress func(stage string, done, total int64)) error {
	f, err := os.Open(dev)
	if err != nil {
		return fmt.Errorf("read back %s: %w", dev, err)
	}
	defer f.Close()
	h := sha256.New()
	r := &counter{w: h, total: want.Length, progress: stage(progress, "verify")}
	if _, err := io.Copy(r, io.LimitReader(f, want.Length)); err != nil {
		return fmt.Errorf("read back %s: %w", dev, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want.SHA256 || r.n != want.Length {
		return fmt.Errorf("read back %d bytes with SHA-256 %s, want %d bytes with %s", r.n, got, want.Length, want.SHA256)
	}
	return nil
}
