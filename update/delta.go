package update

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"berth.dev/berth/internal/layout"
	"berth.dev/berth/update/chunk"
)

// A delta update: each part with a signed chunk index is put together
// from chunks the machine already has (the running slot, what the
// inactive slot holds, chunks an earlier attempt fetched into the cache on
// STATE) and chunks fetched from the repository's store. root.img is
// assembled straight into the inactive partition; the kernel and the
// initramfs into files on STATE, which go to the ESP as a full download's
// would. Every part is checked whole against its signed SHA-256 after.

// partPlan is how the attempt gets one part.
type partPlan struct {
	name string
	t    Target
	// plan is nil when the part comes whole: the release has no index
	// for it, or its chunks would cost at least as much as the part.
	plan *chunk.Plan
	// closers are the sources the plan reads, closed when it is done.
	closers []io.Closer
	// held is what an earlier attempt downloaded of a whole part.
	held int64
	// keptFor maps the name of each source the plan read through a kept
	// index to the slot that index is kept for.
	keptFor map[string]string
}

func (p *partPlan) fetchBytes() int64 {
	if p.plan == nil {
		return p.t.Length - p.held
	}
	return p.plan.FetchBytes
}

func (p *partPlan) reuseBytes() int64 {
	if p.plan == nil {
		return p.held
	}
	return p.plan.ReuseBytes
}

func (p *partPlan) close() {
	for _, c := range p.closers {
		c.Close()
	}
	p.closers = nil
}

// plans are an attempt's part plans, by name.
type plans map[string]*partPlan

func (ps plans) fetchBytes() (n int64) {
	for _, p := range ps {
		n += p.fetchBytes()
	}
	return n
}

func (ps plans) reuseBytes() (n int64) {
	for _, p := range ps {
		n += p.reuseBytes()
	}
	return n
}

func (ps plans) close() {
	for _, p := range ps {
		p.close()
	}
}

// chunkCache is where fetched chunks wait on STATE until the slot they
// belong to is installed: a cut download resumes from it.
func (m Machine) chunkCache() chunk.Store {
	return chunk.Store{Dir: filepath.Join(m.Records.Dir, "chunks")}
}

// plan reads what the machine has for each part of the offer. running
// is the running slot's boot entry (its verity bounds how much of the
// running partition is root image); slot is the slot being written and
// dir where the parts that come whole or go to the ESP are kept. note
// tells the user why the plan reads a slot it could have looked up.
func (u *Updater) plan(offer Offer, running SlotEntry, slot, dir string, note func(string)) (plans, error) {
	m := u.Machine
	ps := plans{}
	for _, name := range PartNames {
		p := &partPlan{name: name, t: offer.Parts[name]}
		ps[name] = p
		// Whole, or as chunks and put together: an earlier attempt's
		// file that checks is used as it is.
		path := filepath.Join(dir, name)
		if verify(path, p.t) == nil {
			p.held = p.t.Length
			continue
		}
		p.held = min(fileSize(path+".part"), p.t.Length)
		ix := offer.Indexes[name]
		if ix == nil {
			continue
		}
		var srcs []chunk.Source
		// add opens a source; kept, when not "", is the slot whose kept
		// root index may say what the source holds.
		add := func(what, path string, bound int64, dest bool, kept string) error {
			f, err := os.Open(path)
			if errors.Is(err, os.ErrNotExist) && !dest {
				return nil // e.g. no kernel of that slot on the ESP yet
			}
			if err != nil {
				return fmt.Errorf("plan %s: %s: %w", name, what, err)
			}
			size, err := f.Seek(0, io.SeekEnd)
			if err != nil {
				f.Close()
				return fmt.Errorf("plan %s: %s: %w", name, what, err)
			}
			if bound > 0 {
				size = min(size, bound)
			}
			p.closers = append(p.closers, f)
			src := chunk.Source{Name: what, R: f, Size: size, Dest: dest}
			if kept != "" {
				if src.Index = u.keptIndex(kept, f, size, ix.Params, note); src.Index != nil {
					if p.keptFor == nil {
						p.keptFor = map[string]string{}
					}
					p.keptFor[what] = kept
				}
			}
			srcs = append(srcs, src)
			return nil
		}
		var err error
		if name == "root.img" {
			err = u.rootSources(running, slot, add)
		} else {
			for _, s := range []string{m.Slot, slot} {
				if err = add("slot "+s+"'s "+name, filepath.Join(m.ESP, layout.ESPDir(s), name), 0, false, ""); err != nil {
					break
				}
			}
		}
		if err != nil {
			ps.close()
			return nil, err
		}
		plan, err := chunk.NewPlan(ix, m.chunkCache(), srcs...)
		if err != nil {
			ps.close()
			return nil, fmt.Errorf("plan %s: %w", name, err)
		}
		// A machine that can reuse little downloads no more than a full
		// update would: the part comes whole.
		if plan.FetchBytes >= p.t.Length {
			p.close()
			continue
		}
		p.plan = plan
	}
	return ps, nil
}

// rootSources adds the running slot's root image and the inactive
// partition (the destination) to a root plan. A slot never written, by
// an update or an install, holds nothing to reuse and is not read.
func (u *Updater) rootSources(running SlotEntry, slot string, add func(what, path string, bound int64, dest bool, kept string) error) error {
	m := u.Machine
	cur, err := m.Partition(m.Slot)
	if err != nil {
		return err
	}
	var bound int64 // the whole partition when the entry names no tree
	if running.Verity != nil {
		bound = int64(running.Verity.ImageSize())
	}
	if err := add("slot "+m.Slot+" ("+cur+")", cur, bound, false, m.Slot); err != nil {
		return err
	}
	if rec, err := m.Records.Slot(slot); err == nil && rec.Version == "" && !exists(filepath.Join(m.ESP, layout.ESPDir(slot))) {
		return nil
	}
	dev, err := m.Partition(slot)
	if err != nil {
		return err
	}
	return add("slot "+slot+" ("+dev+")", dev, 0, true, slot)
}

// keptIndexPath is where the index of the root image slot holds is kept.
func (m Machine) keptIndexPath(slot string) string {
	return filepath.Join(m.ESP, layout.ESPDir(slot), layout.RootIndex)
}

// spotChecks is how many chunks of a kept index are read and checked
// before a plan relies on it.
const spotChecks = 8

// keptIndex is the root index kept for slot when it still describes r,
// the slot's first size bytes, and was cut with params; nil otherwise,
// and the plan reads the slot to find its chunks. A kept index is not
// signed: it only says where to look. Spot checks a few of its chunks
// here, and the part's whole check after the slot is written catches
// any other it got wrong.
func (u *Updater) keptIndex(slot string, r io.ReaderAt, size int64, params chunk.Params, note func(string)) *chunk.Index {
	path := u.Machine.keptIndexPath(slot)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var ix *chunk.Index
	if err == nil {
		ix, err = chunk.Parse(path, b)
	}
	switch {
	case err != nil:
	case ix.Params != params:
		err = fmt.Errorf("%s: params: cut with %+v, the release with %+v", path, ix.Params, params)
	case ix.Size > size:
		err = fmt.Errorf("%s: size: %d bytes; the slot holds %d", path, ix.Size, size)
	default:
		if err = ix.Spot(r, spotChecks); err != nil {
			err = fmt.Errorf("%s: %w", path, err)
		}
	}
	if err != nil {
		note(fmt.Sprintf("reading slot %s whole to find its chunks: %v", slot, err))
		return nil
	}
	return ix
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// fetchChunks fetches a part's missing chunks into the cache. progress
// sees the stored bytes fetched so far and may stop the fetch (the
// power-cut seam) by returning an error; it is never called twice at
// once.
func fetchChunks(ctx context.Context, c *http.Client, base string, p *partPlan, progress func(done int64) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		done    int64
		stopped error
	)
	err := p.plan.FetchAll(ctx, chunkGetter(c, base), chunkWorkers, func(n int64) {
		mu.Lock()
		defer mu.Unlock()
		done += n
		if stopped == nil {
			if stopped = progress(done); stopped != nil {
				cancel()
			}
		}
	})
	if stopped != nil {
		return stopped
	}
	if err != nil {
		return fmt.Errorf("download %s: %w", p.name, err)
	}
	return nil
}

// chunkWorkers is how many chunks are fetched at once: enough to hide a
// round trip per chunk, few enough for a small server.
const chunkWorkers = 4

// chunkTries is how often a chunk is asked for before the update stops.
const chunkTries = 3

// chunkGetter fetches chunks from a repository's store with plain GETs.
// A chunk comes whole or not at all (it is small): a cut connection, a
// server error or a stall is tried again, a chunk the store does not
// have is not.
func chunkGetter(c *http.Client, base string) chunk.Getter {
	return func(ctx context.Context, ch chunk.Chunk) (io.ReadCloser, error) {
		url := base + chunk.Rel(ch.SHA256)
		for attempt := 1; ; attempt++ {
			b, err := getChunk(ctx, c, url, ch.Stored)
			if err == nil {
				return io.NopCloser(bytes.NewReader(b)), nil
			}
			var fatal *fatalError
			if errors.As(err, &fatal) || ctx.Err() != nil {
				return nil, fmt.Errorf("%s: %w", url, err)
			}
			if attempt >= chunkTries {
				return nil, fmt.Errorf("%s: %w (%d tries)", url, err, attempt)
			}
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("%s: %w", url, ctx.Err())
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
	}
}

// getChunk reads one chunk's answer: at most one byte more than the
// index's stored size (the chunk's check then refuses an overlong one),
// and no byte for IdleTimeout ends the try.
func getChunk(ctx context.Context, c *http.Client, url string, stored int64) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stall := time.AfterFunc(IdleTimeout, cancel)
	defer stall.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, &fatalError{err}
	}
	resp, err := c.Do(req)
	if err != nil {
		if !stall.Stop() {
			err = fmt.Errorf("no answer for %v: %w", IdleTimeout, err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotFound:
		return nil, &fatalError{fmt.Errorf("the repository's chunk store does not have it (%s)", resp.Status)}
	case resp.StatusCode >= 500:
		return nil, fmt.Errorf("server: %s", resp.Status)
	default:
		return nil, &fatalError{fmt.Errorf("server: %s", resp.Status)}
	}
	b, err := io.ReadAll(io.LimitReader(&idleReader{resp.Body, stall}, stored+1))
	if err != nil && !stall.Stop() {
		err = fmt.Errorf("no data for %v: %w", IdleTimeout, err)
	}
	return b, err
}

// assembleFile puts a part together in the file at path (the kernel or
// the initramfs, on STATE) and checks it whole.
func assembleFile(p *partPlan, path string) error {
	if verify(path, p.t) == nil {
		return nil // an earlier attempt did
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("assemble %s: %w", p.name, err)
	}
	err = p.plan.Assemble(f)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("assemble %s: %w", p.name, err)
	}
	if err := verify(path, p.t); err != nil {
		err = p.find(path, err)
		os.Remove(path)
		return fmt.Errorf("assemble %s: %w", p.name, err)
	}
	return nil
}

// assembleSlot puts root.img together in the inactive slot's partition
// dev, syncs it and reads it back whole against the signed SHA-256, as
// WriteSlot does for a full download. progress sees the bytes written
// of those to write (chunks already in place are not) and may stop the
// assembly by returning an error.
func assembleSlot(ctx context.Context, dev string, p *partPlan, progress func(done, total int64) error) error {
	out, err := openSlot(dev, p.t.Length)
	if err != nil {
		return err
	}
	defer out.Close()
	w := &slotWriter{ctx: ctx, w: out, total: p.plan.WriteBytes(), progress: progress}
	if err := p.plan.Assemble(w); err != nil {
		if w.stopped != nil {
			return w.stopped
		}
		return fmt.Errorf("write slot %s: %w", dev, err)
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("write slot %s: fsync: %w", dev, err)
	}
	if err := dropCache(out); err != nil {
		return fmt.Errorf("write slot %s: drop cached pages: %w", dev, err)
	}
	if err := VerifySlot(dev, p.t, nil); err != nil {
		return fmt.Errorf("write slot %s: %w", dev, p.find(dev, fmt.Errorf("%w: the device does not hold the signed root image", err)))
	}
	return nil
}

// find adds to err, a part's failed whole check after assembling it at
// path, the chunk at fault and where it came from, when one is.
func (p *partPlan) find(path string, err error) error {
	f, oerr := os.Open(path)
	if oerr != nil {
		return err
	}
	defer f.Close()
	if cerr := p.plan.Find(f); cerr != nil {
		return fmt.Errorf("%w: %w", err, cerr)
	}
	return err
}

// slotWriter counts what an assembly writes, and stops it when ctx ends
// or progress says so.
type slotWriter struct {
	ctx         context.Context
	w           io.WriterAt
	done, total int64
	last        int64
	progress    func(done, total int64) error
	stopped     error
}

func (s *slotWriter) WriteAt(p []byte, off int64) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.w.WriteAt(p, off)
	s.done += int64(n)
	if s.done-s.last >= 1<<20 || s.done == s.total {
		s.last = s.done
		if s.stopped = s.progress(s.done, s.total); s.stopped != nil {
			return n, s.stopped
		}
	}
	return n, err
}
