package chunk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

// release is a part published into a repository's store.
type release struct {
	part  []byte
	ix    *Index
	store Store
}

func publishPart(t *testing.T, part []byte) release {
	t.Helper()
	s := Store{Dir: t.TempDir()}
	ix, err := MakeIndex("root.img", bytes.NewReader(part), Default, s.Put)
	if err != nil {
		t.Fatal(err)
	}
	// What the machine gets is what it parses.
	if ix, err = Parse("root.img.idx", ix.Marshal()); err != nil {
		t.Fatal(err)
	}
	return release{part, ix, s}
}

// server serves a store's chunks and counts the stored bytes it sent.
type server struct {
	store Store
	sent  atomic.Int64
	// swap, when set, may replace what a chunk's request gets.
	swap func(c Chunk, b []byte) ([]byte, error)
}

func (s *server) get(ctx context.Context, c Chunk) (io.ReadCloser, error) {
	b, err := os.ReadFile(s.store.Path(c.SHA256))
	if err != nil {
		return nil, fmt.Errorf("404: %w", err)
	}
	if s.swap != nil {
		if b, err = s.swap(c, b); err != nil {
			return nil, err
		}
	}
	s.sent.Add(int64(len(b)))
	return io.NopCloser(bytes.NewReader(b)), nil
}

// slot is a destination that counts the bytes written into it.
type slot struct {
	b       []byte
	written int64
}

func (s *slot) WriteAt(p []byte, off int64) (int, error) {
	s.written += int64(len(p))
	return copy(s.b[off:], p), nil
}

func (s *slot) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(s.b)) {
		return 0, io.EOF
	}
	n := copy(p, s.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func update(t *testing.T, ix *Index, cache Store, srv *server, dst *slot, srcs ...Source) *Plan {
	t.Helper()
	srcs = append(srcs, Source{Name: "ROOT-B", R: dst, Size: int64(len(dst.b)), Dest: true})
	p, err := NewPlan(ix, cache, srcs...)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.FetchAll(context.Background(), srv.get, 4, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Assemble(dst); err != nil {
		t.Fatal(err)
	}
	return p
}

// v1 → v2 that differs in a few places fetches only the chunks around
// them; the slot then holds v2 exactly.
func TestDeltaUpdate(t *testing.T) {
	v1 := append(data(10, 3<<20), bytes.Repeat([]byte("the same text "), 50000)...)
	v2 := append([]byte(nil), v1[:1<<20]...)
	v2 = append(v2, []byte("a new file of the release")...)
	v2 = append(v2, v1[1<<20:2<<20]...)
	v2 = append(v2, data(11, 20000)...)
	v2 = append(v2, v1[2<<20+20000:]...)
	r2 := publishPart(t, v2)
	srv := &server{store: r2.store}
	dst := &slot{b: make([]byte, 8<<20)}
	p := update(t, r2.ix, Store{Dir: t.TempDir()}, srv, dst, Source{Name: "ROOT-A", R: bytes.NewReader(v1), Size: int64(len(v1))})
	if !bytes.Equal(dst.b[:len(v2)], v2) {
		t.Fatal("the slot does not hold v2")
	}
	full := r2.ix.StoredBytes()
	t.Logf("fetched %d of %d stored bytes (%.1f%%), reused %d", srv.sent.Load(), full, 100*float64(srv.sent.Load())/float64(full), p.ReuseBytes)
	// Two edits: the chunks around each, no more.
	if srv.sent.Load() != p.FetchBytes || p.FetchBytes > 4*int64(Default.Max) {
		t.Errorf("fetched %d bytes (plan said %d) of %d for two edits", srv.sent.Load(), p.FetchBytes, full)
	}
	if p.ReuseBytes+sizeOf(p.Fetch) < int64(len(v2)) {
		t.Errorf("reused %d + fetched %d < %d part bytes", p.ReuseBytes, sizeOf(p.Fetch), len(v2))
	}
}

// The inactive slot's own content counts: a machine that rolled back
// and upgrades again to what that slot held, shifted, fetches nothing,
// though assembling overwrites the chunks where they were.
func TestReuseFromDestination(t *testing.T) {
	part := data(15, 2<<20)
	r := publishPart(t, part)
	dst := &slot{b: make([]byte, 3<<20)}
	copy(dst.b[12345:], part) // the same bytes, not where they belong
	srv := &server{store: r.store}
	// Planning alone writes nothing, not even to the cache: a dry run
	// asks it what an update would fetch.
	cache := Store{Dir: t.TempDir()}
	dry, err := NewPlan(r.ix, cache, Source{Name: "ROOT-B", R: dst, Size: int64(len(dst.b)), Dest: true})
	if err != nil {
		t.Fatal(err)
	}
	if des, _ := os.ReadDir(cache.Dir); len(des) != 0 || dry.ReuseBytes == 0 {
		t.Errorf("a plan wrote %d entries to the cache; counted %d bytes to reuse", len(des), dry.ReuseBytes)
	}
	p := update(t, r.ix, cache, srv, dst)
	if !bytes.Equal(dst.b[:len(part)], part) {
		t.Fatal("the slot does not hold the part")
	}
	// The slot's chunks are cut from its start, 12345 bytes before the
	// part's: the cut points agree again within a chunk or two.
	if srv.sent.Load() > 2*int64(Default.Max) || p.ReuseBytes+srv.sent.Load() < int64(len(part)) {
		t.Errorf("fetched %d bytes, reused %d of %d", srv.sent.Load(), p.ReuseBytes, len(part))
	}
}

func sizeOf(cs []Chunk) (n int64) {
	for _, c := range cs {
		n += c.Size
	}
	return n
}

// A machine with nothing to reuse downloads each distinct chunk once:
// no more than the whole part's stored bytes.
func TestNothingToReuse(t *testing.T) {
	r := publishPart(t, append(data(12, 1<<20), data(12, 1<<20)...)) // the second MiB repeats the first
	srv := &server{store: r.store}
	dst := &slot{b: make([]byte, 3<<20)}
	update(t, r.ix, Store{Dir: t.TempDir()}, srv, dst)
	if !bytes.Equal(dst.b[:len(r.part)], r.part) {
		t.Fatal("the slot does not hold the part")
	}
	if srv.sent.Load() > r.ix.StoredBytes()/2+int64(Default.Max) {
		t.Errorf("fetched %d of %d stored bytes for a part that repeats itself", srv.sent.Load(), r.ix.StoredBytes())
	}
}

// A cut download resumes: what was fetched and checked is not fetched
// again. A cut assembly resumes too: chunks in place are not rewritten.
func TestResume(t *testing.T) {
	r := publishPart(t, data(13, 2<<20))
	cache := Store{Dir: t.TempDir()}
	dst := &slot{b: make([]byte, 3<<20)}
	srcs := []Source{{Name: "ROOT-B", R: dst, Size: int64(len(dst.b)), Dest: true}}
	p, err := NewPlan(r.ix, cache, srcs...)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	cut := &server{store: r.store, swap: func(c Chunk, b []byte) ([]byte, error) {
		if n.Add(1) > 10 {
			return nil, errors.New("connection reset")
		}
		return b, nil
	}}
	if err := p.FetchAll(context.Background(), cut.get, 1, nil); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("cut download: %v", err)
	}
	if err := p.Assemble(dst); !errors.Is(err, ErrIncomplete) || dst.written != 0 {
		t.Fatalf("assemble after a cut download: %v, %d bytes written", err, dst.written)
	}
	p, err = NewPlan(r.ix, cache, srcs...)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Fetch) != len(r.ix.Chunks)-10 {
		t.Errorf("after 10 chunks fetched, %d of %d still to fetch", len(p.Fetch), len(r.ix.Chunks))
	}
	srv := &server{store: r.store}
	if err := p.FetchAll(context.Background(), srv.get, 3, nil); err != nil {
		t.Fatal(err)
	}
	// Half the part assembled, then the power went.
	half := r.ix.Offsets()[len(r.ix.Chunks)/2]
	copy(dst.b, r.part[:half])
	p, err = NewPlan(r.ix, cache, srcs...)
	if err != nil || len(p.Fetch) != 0 {
		t.Fatalf("plan with everything cached: %v, %d to fetch", err, len(p.Fetch))
	}
	if err := p.Assemble(dst); err != nil {
		t.Fatal(err)
	}
	if dst.written != int64(len(r.part))-half || !bytes.Equal(dst.b[:len(r.part)], r.part) {
		t.Errorf("wrote %d bytes for the %d not in place", dst.written, int64(len(r.part))-half)
	}
}

// A server that sends wrong bytes, or lacks a chunk, stops the update with
// the chunk named; the slot is not written and the bad bytes are not kept.
func TestBadServer(t *testing.T) {
	r := publishPart(t, data(14, 1<<20))
	victim := r.ix.Chunks[3]
	for name, tc := range map[string]struct {
		swap func(c Chunk, b []byte) ([]byte, error)
		want string
	}{
		"wrong bytes": {func(c Chunk, b []byte) ([]byte, error) {
			if c.SHA256 == victim.SHA256 {
				other, _ := os.ReadFile(r.store.Path(r.ix.Chunks[4].SHA256))
				return other, nil
			}
			return b, nil
		}, "chunk " + victim.SHA256 + ": "},
		"missing chunk": {func(c Chunk, b []byte) ([]byte, error) {
			if c.SHA256 == victim.SHA256 {
				return nil, errors.New("404 Not Found")
			}
			return b, nil
		}, "chunk " + victim.SHA256 + ": fetch: 404 Not Found"},
		"oversized chunk": {func(c Chunk, b []byte) ([]byte, error) {
			if c.SHA256 == victim.SHA256 {
				return append(b, make([]byte, 1<<20)...), nil
			}
			return b, nil
		}, "stored bytes, the index says"},
	} {
		cache := Store{Dir: t.TempDir()}
		dst := &slot{b: make([]byte, 2<<20)}
		p, err := NewPlan(r.ix, cache, Source{Name: "ROOT-B", R: dst, Size: int64(len(dst.b)), Dest: true})
		if err != nil {
			t.Fatal(err)
		}
		err = p.FetchAll(context.Background(), (&server{store: r.store, swap: tc.swap}).get, 2, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.want)
		}
		if _, err := os.Stat(cache.Path(victim.SHA256)); err == nil {
			t.Errorf("%s: the bad chunk was kept", name)
		}
		if dst.written != 0 {
			t.Errorf("%s: %d bytes written to the slot", name, dst.written)
		}
	}
}

// A damaged chunk in the cache (a disk error, a cut write from an older
// version) is dropped and fetched again, not used.
func TestDamagedCache(t *testing.T) {
	r := publishPart(t, data(15, 500000))
	cache := Store{Dir: t.TempDir()}
	c := r.ix.Chunks[0]
	stored, _ := os.ReadFile(r.store.Path(c.SHA256))
	stored[len(stored)/2] ^= 1
	if err := cache.putStored(c.SHA256, stored); err != nil {
		t.Fatal(err)
	}
	dst := &slot{b: make([]byte, 1<<20)}
	p := update(t, r.ix, cache, &server{store: r.store}, dst)
	if len(p.Fetch) != len(r.ix.Chunks) || !bytes.Equal(dst.b[:len(r.part)], r.part) {
		t.Errorf("%d of %d fetched; slot right: %v", len(p.Fetch), len(r.ix.Chunks), bytes.Equal(dst.b[:len(r.part)], r.part))
	}
}

// A chunk the plan found elsewhere in the destination that is gone when
// assembling begins stops it before anything is written.
func TestDestinationChangedAfterPlan(t *testing.T) {
	part := data(16, 2<<20)
	r := publishPart(t, part)
	dst := &slot{b: make([]byte, 3<<20)}
	copy(dst.b[12345:], part)
	p, err := NewPlan(r.ix, Store{Dir: t.TempDir()}, Source{Name: "ROOT-B", R: dst, Size: int64(len(dst.b)), Dest: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.toStage) == 0 {
		t.Fatal("nothing to copy from the destination")
	}
	clear(dst.b)
	err = p.Assemble(dst)
	if !errors.Is(err, ErrChunk) || !strings.Contains(err.Error(), p.toStage[0].c.SHA256) || dst.written != 0 {
		t.Fatalf("assemble: %v, %d bytes written; want the first chunk to copy named and nothing written", err, dst.written)
	}
	t.Log(err)
}
