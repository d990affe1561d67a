package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// Target is one file of a release, as the signed metadata describes it.
type Target struct {
	URL    string
	Length int64
	SHA256 string // hex
}

// Download fetches t into path, resuming from what an earlier, cut
// attempt left in path+".part" (HTTP Range), retrying a cut connection up
// to tries times, and never reading more than t.Length bytes (a server
// cannot fill the disk). Only a file of the right length and SHA-256 is
// renamed to path (a path already holding it is kept); a mismatch removes
// the partial file. A file resumed from an earlier call that then does
// not match is fetched once more from the start: a power cut can leave
// a partial file whose tail the disk never got.
// progress, if not nil, sees the bytes held so far.
func Download(ctx context.Context, c *http.Client, t Target, path string, tries int, progress func(done, total int64)) error {
	if verify(path, t) == nil {
		// Fetched and verified by an attempt that failed later.
		if progress != nil {
			progress(t.Length, t.Length)
		}
		return nil
	}
	part := path + ".part"
	resumed := fileSize(part) > 0
	err := download(ctx, c, t, part, tries, progress)
	var mismatch *mismatchError
	if resumed && errors.As(err, &mismatch) {
		err = download(ctx, c, t, part, tries, progress)
	}
	if err != nil {
		return err
	}
	if err := os.Rename(part, path); err != nil {
		return fmt.Errorf("download %s: %w", t.URL, err)
	}
	return nil
}

// mismatchError is a complete file that is not the signed one.
type mismatchError struct{ err error }

func (m *mismatchError) Error() string { return m.err.Error() }
func (m *mismatchError) Unwrap() error { return m.err }

// download fetches t into part, with tries, and verifies it; a file that
// does not match is removed.
func download(ctx context.Context, c *http.Client, t Target, part string, tries int, progress func(done, total int64)) error {
	var sum string
	for attempt := 1; ; attempt++ {
		var err error
		sum, err = fetch(ctx, c, t, part, progress)
		if err == nil {
			break
		}
		var fatal *fatalError
		if errors.As(err, &fatal) || attempt >= tries || ctx.Err() != nil {
			return fmt.Errorf("download %s: %w", t.URL, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("download %s: %w", t.URL, ctx.Err())
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
	if err := check(Part{Size: t.Length, SHA256: sum}, t); err != nil {
		os.Remove(part)
		return &mismatchError{fmt.Errorf("download %s: %w", t.URL, err)}
	}
	return nil
}

// fatalError is a failure a retry cannot mend.
type fatalError struct{ err error }

func (f *fatalError) Error() string { return f.err.Error() }
func (f *fatalError) Unwrap() error { return f.err }

// fetch appends to part what it lacks, from the offset it holds, and
// returns the whole file's SHA-256: what it held is hashed as it is read
// back, the rest as it arrives, so a fetched part is not read again to
// be checked.
func fetch(ctx context.Context, c *http.Client, t Target, part string, progress func(int64, int64)) (string, error) {
	f, err := os.OpenFile(part, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", &fatalError{err}
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return "", &fatalError{err}
	}
	if have > t.Length {
		// Longer than the metadata says: not this file. Start again.
		if err := f.Truncate(0); err != nil {
			return "", &fatalError{err}
		}
		have, _ = f.Seek(0, io.SeekStart)
	}
	h := sha256.New()
	held := func() error {
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, have)); err != nil {
			return &fatalError{fmt.Errorf("read back %s: %w", part, err)}
		}
		return nil
	}
	if have == t.Length {
		if err := held(); err != nil {
			return "", err
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	// A server that stops sending without closing would hold the update
	// (and its lock) for ever: no byte for IdleTimeout ends the try.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stall := time.AfterFunc(IdleTimeout, cancel)
	defer stall.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL, nil)
	if err != nil {
		return "", &fatalError{err}
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		if err := held(); err != nil {
			return "", err
		}
	case resp.StatusCode == http.StatusOK:
		// The server ignores Range (or there was nothing yet): from 0.
		if err := f.Truncate(0); err != nil {
			return "", &fatalError{err}
		}
		have = 0
	case resp.StatusCode >= 500:
		return "", fmt.Errorf("server: %s", resp.Status)
	default:
		return "", &fatalError{fmt.Errorf("server: %s", resp.Status)}
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return "", &fatalError{err}
	}
	w := &counter{w: io.MultiWriter(f, h), n: have, total: t.Length, progress: progress}
	// One byte more than the file can have: an overlong answer is seen.
	_, err = io.Copy(w, io.LimitReader(&idleReader{resp.Body, stall}, t.Length-have+1))
	if err != nil && !stall.Stop() && ctx.Err() != nil {
		err = fmt.Errorf("no data for %v: %w", IdleTimeout, err)
	}
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if err != nil {
		return "", err
	}
	if w.n > t.Length {
		f.Truncate(0)
		return "", &fatalError{fmt.Errorf("the server sent more than the %d bytes the signed metadata give", t.Length)}
	}
	if w.n < t.Length {
		return "", fmt.Errorf("connection ended at %d of %d bytes", w.n, t.Length)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// IdleTimeout is how long a download waits for the next byte.
var IdleTimeout = 60 * time.Second

// idleReader restarts the stall timer whenever data arrives.
type idleReader struct {
	r     io.Reader
	stall *time.Timer
}

func (i *idleReader) Read(p []byte) (int, error) {
	n, err := i.r.Read(p)
	if n > 0 {
		i.stall.Reset(IdleTimeout)
	}
	return n, err
}

// counter passes writes through and tells progress, if any, the bytes
// so far about every MiB and at the end.
type counter struct {
	w              io.Writer
	n, last, total int64
	progress       func(done, total int64)
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if c.progress != nil && (c.n-c.last >= 1<<20 || c.n == c.total) {
		c.last = c.n
		c.progress(c.n, c.total)
	}
	return n, err
}

// verify checks path's length and SHA-256 against t.
func verify(path string, t Target) error {
	got, err := HashFile(path)
	if err != nil {
		return err
	}
	return check(got, t)
}

// check compares a file's length and SHA-256 with t's.
func check(got Part, t Target) error {
	if got.Size != t.Length {
		return fmt.Errorf("length %d, the signed metadata say %d", got.Size, t.Length)
	}
	if got.SHA256 != t.SHA256 {
		return fmt.Errorf("SHA-256 %s, the signed metadata say %s: tampered with or damaged", got.SHA256, t.SHA256)
	}
	return nil
}
