package chunk

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Source is bytes the machine already has: the running slot's part, or
// (Dest) what an earlier attempt left where the part is being written.
type Source struct {
	Name string
	R    io.ReaderAt
	Size int64
	// Dest marks the destination itself. Its chunks count only where
	// they already are: assembling overwrites the rest.
	Dest bool
	// Index, when it was cut with the plan's parameters, lists the
	// source's chunks as they were when it was written: the plan finds
	// them there without reading the source. It is kept where the plan
	// cannot vouch for it, so a caller spot-checks it first (Spot), and
	// the part's whole check after Assemble catches what it got wrong;
	// Find then says so with ErrStaleIndex.
	Index *Index
}

// each calls fn with the offset and SHA-256 of each of the source's
// chunks in its first size bytes, cut with p: from its index when that
// was cut with p, else by reading it.
func (s Source) each(p Params, size int64, fn func(off int64, sum string) error) error {
	if s.indexed(p) {
		var off int64
		for _, c := range s.Index.Chunks {
			if off+c.Size > size {
				break
			}
			if err := fn(off, c.SHA256); err != nil {
				return err
			}
			off += c.Size
		}
		return nil
	}
	err := Split(io.NewSectionReader(s.R, 0, size), p, func(pc Piece) error {
		return fn(pc.Offset, pc.Hex())
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", s.Name, err)
	}
	return nil
}

// Spot reads n of the index's chunks, spread over the part, from r and
// checks them: a cheap look at whether an index kept beside a source
// still describes it, before a plan relies on it.
func (ix *Index) Spot(r io.ReaderAt, n int) error {
	if len(ix.Chunks) == 0 || n <= 0 {
		return nil
	}
	offs := ix.Offsets()
	buf := make([]byte, ix.Params.Max)
	n = min(n, len(ix.Chunks))
	for i := range n {
		j := i * len(ix.Chunks) / n
		c := ix.Chunks[j]
		b := buf[:c.Size]
		if _, err := r.ReadAt(b, offs[j]); err != nil {
			return fmt.Errorf("chunk %d at %d: %w", j, offs[j], err)
		}
		if !c.matches(b) {
			return &ChunkError{SHA256: c.SHA256, Reason: fmt.Sprintf("not at %d, where the index puts it", offs[j])}
		}
	}
	return nil
}

// indexed says whether the source's chunks come from its index.
func (s Source) indexed(p Params) bool { return s.Index != nil && s.Index.Params == p }

type loc struct {
	src int
	off int64
}

// Plan is how a machine gets one part: the chunks it has (in a source,
// in place in the destination, or fetched before into its cache) and the
// ones it must fetch.
type Plan struct {
	ix      *Index
	srcs    []Source
	cache   Store
	local   map[string]loc
	inPlace []bool
	// toStage are chunks only the destination holds, away from their
	// place: Assemble copies them into the cache before it writes.
	toStage []staged
	// Fetch lists each chunk to download once.
	Fetch []Chunk
	// ReuseBytes is the part's bytes that need no download; FetchBytes
	// is what the download is (stored, compressed bytes).
	ReuseBytes, FetchBytes int64
}

// NewPlan reads the sources and the cache for the index's chunks. A
// cached chunk that fails its check is removed and fetched again.
//
// The destination is read once: its chunks at their own offsets are in
// place (a cut assembly left them), and a chunk it holds elsewhere that
// no other source has is checked here and copied into the cache when
// Assemble begins, since assembling may overwrite it before it is read.
// NewPlan writes nothing: a dry run can ask what an update would fetch.
func NewPlan(ix *Index, cache Store, srcs ...Source) (*Plan, error) {
	p := &Plan{ix: ix, srcs: srcs, cache: cache, local: map[string]loc{}, inPlace: make([]bool, len(ix.Chunks))}
	offs := ix.Offsets()
	at := make(map[int64]int, len(ix.Chunks))
	all := make(map[string]bool, len(ix.Chunks))
	for j, c := range ix.Chunks {
		at[offs[j]] = j
		all[c.SHA256] = true
	}
	inDest := map[string]loc{}
	for i, s := range srcs {
		if !s.Dest {
			continue
		}
		// A destination's kept index goes before anything writes it (the
		// updater's rule), so one that is there says what it holds; the
		// part's whole check after assembling covers it like the rest.
		err := s.each(ix.Params, min(s.Size, ix.Size), func(off int64, h string) error {
			if j, ok := at[off]; ok && ix.Chunks[j].SHA256 == h {
				p.inPlace[j] = true
			}
			if _, ok := inDest[h]; all[h] && !ok {
				inDest[h] = loc{i, off}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	want := map[string]bool{}
	for j, c := range ix.Chunks {
		if !p.inPlace[j] {
			want[c.SHA256] = true
		}
	}
	for i, s := range srcs {
		if s.Dest {
			continue
		}
		err := s.each(ix.Params, s.Size, func(off int64, h string) error {
			if want[h] {
				if _, ok := p.local[h]; !ok {
					p.local[h] = loc{i, off}
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	buf := make([]byte, ix.Params.Max)
	for j, c := range ix.Chunks {
		if p.inPlace[j] {
			p.ReuseBytes += c.Size
			continue
		}
		if _, ok := p.local[c.SHA256]; ok || seen[c.SHA256] {
			p.ReuseBytes += c.Size
			continue
		}
		seen[c.SHA256] = true
		if p.cached(c) {
			p.ReuseBytes += c.Size
			continue
		}
		if l, ok := inDest[c.SHA256]; ok {
			held, err := p.holds(c, l, buf)
			if err != nil {
				return nil, err
			}
			if held != nil {
				p.toStage = append(p.toStage, staged{c, l})
				p.ReuseBytes += c.Size
				continue
			}
		}
		p.Fetch = append(p.Fetch, c)
		p.FetchBytes += c.Stored
	}
	return p, nil
}

type staged struct {
	c Chunk
	l loc
}

// holds returns chunk c's bytes (in buf) when the source holds them at
// l, else nil.
func (p *Plan) holds(c Chunk, l loc, buf []byte) ([]byte, error) {
	s := p.srcs[l.src]
	b := buf[:c.Size]
	if _, err := s.R.ReadAt(b, l.off); err != nil {
		return nil, fmt.Errorf("read %s at %d: %w", s.Name, l.off, err)
	}
	if !c.matches(b) {
		return nil, nil
	}
	return b, nil
}

// stage copies the chunks only the destination holds into the cache,
// before anything overwrites them there, and makes the copies durable:
// a power cut during the assembly that follows may have overwritten the
// originals, and the retry must find them in the cache, not fetch them.
func (p *Plan) stage() error {
	if len(p.toStage) == 0 {
		return nil
	}
	buf := make([]byte, p.ix.Params.Max)
	for _, st := range p.toStage {
		b, err := p.holds(st.c, st.l, buf)
		if err != nil {
			return err
		}
		if b == nil {
			return &ChunkError{SHA256: st.c.SHA256, Reason: fmt.Sprintf("no longer at %d in %s, where the plan found it", st.l.off, p.srcs[st.l.src].Name)}
		}
		if _, err := p.cache.Put(Piece{Offset: st.l.off, Data: b, Sum: sha256.Sum256(b)}); err != nil {
			return err
		}
	}
	if err := p.cache.Sync(); err != nil {
		return err
	}
	p.toStage = nil
	return nil
}

// cached says whether the cache holds c whole; a damaged copy goes.
func (p *Plan) cached(c Chunk) bool {
	f, err := os.Open(p.cache.Path(c.SHA256))
	if err != nil {
		return false
	}
	_, err = readCached(c, f)
	f.Close()
	if err != nil {
		os.Remove(p.cache.Path(c.SHA256))
		return false
	}
	return true
}

// Getter fetches a chunk's stored bytes (from a repository's store).
type Getter func(ctx context.Context, c Chunk) (io.ReadCloser, error)

// FetchAll downloads the plan's missing chunks, workers at a time, checks
// each and keeps it in the cache; progress gets each one's stored size.
// Chunks fetched before an error stay cached, and the cache is synced
// every SyncEvery bytes and at the end, so a retry, even after a power
// cut, starts where this stopped. Nothing is written to the destination.
func (p *Plan) FetchAll(ctx context.Context, get Getter, workers int, progress func(int64)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan Chunk)
	var (
		mu       sync.Mutex
		first    error
		wg       sync.WaitGroup
		unsynced int64
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
			cancel()
		}
		mu.Unlock()
	}
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range jobs {
				if err := p.fetch(ctx, get, c); err != nil {
					fail(err)
					continue
				}
				mu.Lock()
				if unsynced += c.Stored; unsynced >= SyncEvery {
					unsynced = 0
					if err := p.cache.Sync(); err != nil {
						mu.Unlock()
						fail(err)
						continue
					}
				}
				mu.Unlock()
				if progress != nil {
					progress(c.Stored)
				}
			}
		}()
	}
feed:
	for _, c := range p.Fetch {
		select {
		case jobs <- c:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := p.cache.Sync(); err != nil && first == nil {
		first = err
	}
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// SyncEvery is how many stored bytes FetchAll fetches between syncs of
// the cache.
const SyncEvery = 8 << 20

// WriteBytes is what Assemble writes: the part less the chunks in place.
func (p *Plan) WriteBytes() int64 {
	n := p.ix.Size
	for j, c := range p.ix.Chunks {
		if p.inPlace[j] {
			n -= c.Size
		}
	}
	return n
}

func (p *Plan) fetch(ctx context.Context, get Getter, c Chunk) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	rc, err := get(ctx, c)
	if err != nil {
		return fmt.Errorf("chunk %s: fetch: %w", c.SHA256, err)
	}
	stored, _, err := read(c, rc)
	rc.Close()
	if err != nil {
		return err
	}
	return p.cache.putStored(c.SHA256, stored)
}

// ErrIncomplete is Assemble's error when a chunk is neither local nor
// cached: FetchAll has not finished.
var ErrIncomplete = errors.New("chunks missing: fetch them first")

// Assemble writes the part into dst from the sources and the cache;
// chunks already in place are not written. The caller must check the
// whole part's SHA-256 after, and Find names the chunk at fault when it
// does not match: chunks read from a source are not hashed again as they
// are copied. Hashing is slow where it counts (a machine's update, under
// emulation a third of the assembly), the whole part's check is needed
// anyway, and it catches everything a chunk's would: a source changed
// since the plan read it, or a kept index that does not describe it.
// Cached chunks are checked as they are read.
func (p *Plan) Assemble(dst io.WriterAt) error {
	if err := p.stage(); err != nil {
		return err
	}
	// All there first: a plan not fetched whole writes nothing.
	for j, c := range p.ix.Chunks {
		if _, local := p.local[c.SHA256]; p.inPlace[j] || local {
			continue
		}
		if _, err := os.Stat(p.cache.Path(c.SHA256)); err != nil {
			return fmt.Errorf("chunk %s: %w", c.SHA256, ErrIncomplete)
		}
	}
	offs := p.ix.Offsets()
	buf := make([]byte, p.ix.Params.Max)
	for j, c := range p.ix.Chunks {
		if p.inPlace[j] {
			continue
		}
		var data []byte
		if l, ok := p.local[c.SHA256]; ok {
			s := p.srcs[l.src]
			data = buf[:c.Size]
			if _, err := s.R.ReadAt(data, l.off); err != nil {
				return fmt.Errorf("read %s at %d: %w", s.Name, l.off, err)
			}
		} else {
			f, err := os.Open(p.cache.Path(c.SHA256))
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("chunk %s: %w", c.SHA256, ErrIncomplete)
			}
			if err != nil {
				return fmt.Errorf("chunk cache: %w", err)
			}
			data, err = readCached(c, f)
			f.Close()
			if err != nil {
				return err
			}
		}
		if _, err := dst.WriteAt(data, offs[j]); err != nil {
			return fmt.Errorf("write %s at %d: %w", p.ix.Part, offs[j], err)
		}
	}
	return nil
}

// Find names the first chunk that r, where the part was assembled, does
// not hold where the index puts it, and where the plan took it from:
// what a part that fails its whole check after Assemble got wrong. nil
// when every chunk is as the index says.
func (p *Plan) Find(r io.ReaderAt) error {
	offs := p.ix.Offsets()
	buf := make([]byte, p.ix.Params.Max)
	for j, c := range p.ix.Chunks {
		b := buf[:c.Size]
		if _, err := r.ReadAt(b, offs[j]); err != nil {
			return fmt.Errorf("read %s at %d: %w", p.ix.Part, offs[j], err)
		}
		if c.matches(b) {
			continue
		}
		e := &ChunkError{SHA256: c.SHA256}
		from := "the chunk cache"
		switch l, ok := p.local[c.SHA256]; {
		case p.inPlace[j]:
			from = "the destination, where it was in place"
			if d, ok := p.dest(); ok && d.indexed(p.ix.Params) {
				e.StaleIndex = d.Name
			}
		case ok:
			s := p.srcs[l.src]
			from = fmt.Sprintf("%s at %d", s.Name, l.off)
			if s.indexed(p.ix.Params) {
				e.StaleIndex = s.Name
			}
		}
		why := "the source changed under the update"
		if e.StaleIndex != "" {
			why = "the index kept for " + e.StaleIndex + " is stale"
		}
		e.Reason = fmt.Sprintf("not at %d as assembled, taken from %s: the write failed, or %s", offs[j], from, why)
		return e
	}
	return nil
}

// dest is the destination among the plan's sources.
func (p *Plan) dest() (Source, bool) {
	for _, s := range p.srcs {
		if s.Dest {
			return s, true
		}
	}
	return Source{}, false
}
