package chunk

import (
	"bytes"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

// readCounter counts the bytes read from a source.
type readCounter struct {
	r *bytes.Reader
	n atomic.Int64
}

func (c *readCounter) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

func describe(t *testing.T, b []byte, p Params) *Index {
	t.Helper()
	ix, err := Describe("root.img", bytes.NewReader(b), p)
	if err != nil {
		t.Fatal(err)
	}
	// As the updater reads it back from the ESP.
	if ix, err = Parse("root.img.idx", ix.Marshal()); err != nil {
		t.Fatal(err)
	}
	return ix
}

// A source with its index is not read to plan: the plan is the one
// reading it would give, and only the chunks reused are read, once,
// when the part is assembled.
func TestIndexedSourceIsNotReadToPlan(t *testing.T) {
	v1 := data(20, 3<<20)
	v2 := append(append(append([]byte(nil), v1[:1<<20]...), "version 0.2.0"...), v1[1<<20:]...)
	r2 := publishPart(t, v2)

	scanned, err := NewPlan(r2.ix, Store{Dir: t.TempDir()}, Source{Name: "ROOT-A", R: bytes.NewReader(v1), Size: int64(len(v1))})
	if err != nil {
		t.Fatal(err)
	}
	src := &readCounter{r: bytes.NewReader(v1)}
	indexed, err := NewPlan(r2.ix, Store{Dir: t.TempDir()}, Source{Name: "ROOT-A", R: src, Size: int64(len(v1)), Index: describe(t, v1, Default)})
	if err != nil {
		t.Fatal(err)
	}
	if src.n.Load() != 0 {
		t.Errorf("planning read %d bytes of a source with an index", src.n.Load())
	}
	if indexed.FetchBytes != scanned.FetchBytes || indexed.ReuseBytes != scanned.ReuseBytes {
		t.Errorf("indexed plan: fetch %d, reuse %d; read: fetch %d, reuse %d",
			indexed.FetchBytes, indexed.ReuseBytes, scanned.FetchBytes, scanned.ReuseBytes)
	}
	srv := &server{store: r2.store}
	dst := &slot{b: make([]byte, 4<<20)}
	if err := indexed.FetchAll(t.Context(), srv.get, 4, nil); err != nil {
		t.Fatal(err)
	}
	if err := indexed.Assemble(dst); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dst.b[:len(v2)], v2) {
		t.Fatal("the slot does not hold v2")
	}
	if src.n.Load() != indexed.ReuseBytes {
		t.Errorf("assembling read %d bytes of the source to reuse %d", src.n.Load(), indexed.ReuseBytes)
	}
}

// An index cut with other parameters says nothing about the chunks
// this release's index lists: the source is read.
func TestIndexWithOtherParamsIsIgnored(t *testing.T) {
	v1 := data(21, 2<<20)
	r := publishPart(t, v1)
	src := &readCounter{r: bytes.NewReader(v1)}
	other := Params{Min: 8 << 10, Avg: 32 << 10, Max: 128 << 10}
	p, err := NewPlan(r.ix, Store{Dir: t.TempDir()}, Source{Name: "ROOT-A", R: src, Size: int64(len(v1)), Index: describe(t, v1, other)})
	if err != nil {
		t.Fatal(err)
	}
	if src.n.Load() < int64(len(v1)) || p.FetchBytes != 0 {
		t.Errorf("read %d of %d bytes, fetch %d: want the source read and nothing fetched", src.n.Load(), len(v1), p.FetchBytes)
	}
}

// An index that no longer describes its source is caught: Spot finds a
// changed chunk, and after an assembly from it Find names the chunk the
// part's whole check failed for, and the source it came from.
func TestStaleIndexIsCaught(t *testing.T) {
	v1 := data(22, 2<<20)
	ix := describe(t, v1, Default)
	changed := append([]byte(nil), v1...)
	mid := len(ix.Chunks) / 2
	changed[ix.Offsets()[mid]+10] ^= 0xff
	if err := ix.Spot(bytes.NewReader(v1), len(ix.Chunks)); err != nil {
		t.Fatalf("spot check of a true index: %v", err)
	}
	err := ix.Spot(bytes.NewReader(changed), len(ix.Chunks))
	if !errors.Is(err, ErrChunk) {
		t.Fatalf("spot check of a stale index: %v, want a chunk error", err)
	}
	t.Log(err)

	v2 := append(append([]byte(nil), v1...), "more"...)
	r2 := publishPart(t, v2)
	p, err := NewPlan(r2.ix, Store{Dir: t.TempDir()}, Source{Name: "ROOT-A", R: bytes.NewReader(changed), Size: int64(len(changed)), Index: ix})
	if err != nil {
		t.Fatal(err)
	}
	srv := &server{store: r2.store}
	if err := p.FetchAll(t.Context(), srv.get, 4, nil); err != nil {
		t.Fatal(err)
	}
	dst := &slot{b: make([]byte, 3<<20)}
	if err := p.Assemble(dst); err != nil {
		t.Fatal(err)
	}
	err = p.Find(dst)
	if !errors.Is(err, ErrStaleIndex) || !strings.Contains(err.Error(), ix.Chunks[mid].SHA256) || !strings.Contains(err.Error(), "ROOT-A") {
		t.Fatalf("Find after assembling from a stale index: %v, want chunk %d and its source named", err, mid)
	}
	t.Log(err)
	copy(dst.b, v2)
	if err := p.Find(dst); err != nil {
		t.Errorf("Find on the right bytes: %v", err)
	}
}

// The destination's kept index finds the chunks it holds for the release
// (a machine that rolled back upgrades again) without reading it: those
// where they belong are in place, neither fetched nor written. One the
// index is wrong about is caught by the part's whole check, and Find says
// the index may be stale.
func TestIndexedDestination(t *testing.T) {
	part := data(23, 2<<20)
	r := publishPart(t, part)
	dst := &slot{b: make([]byte, 3<<20)}
	copy(dst.b, part)
	src := &readCounter{r: bytes.NewReader(dst.b)}
	plan := func(ix *Index) *Plan {
		p, err := NewPlan(r.ix, Store{Dir: t.TempDir()}, Source{Name: "ROOT-B", R: src, Size: int64(len(dst.b)), Dest: true, Index: ix})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := plan(describe(t, part, Default))
	if p.FetchBytes != 0 || p.WriteBytes() != 0 || src.n.Load() != 0 {
		t.Errorf("fetch %d, write %d, read %d: want nothing fetched, written or read", p.FetchBytes, p.WriteBytes(), src.n.Load())
	}
	if err := p.Assemble(dst); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dst.b[:len(part)], part) || dst.written != 0 {
		t.Errorf("slot holds the part: %v; wrote %d bytes", bytes.Equal(dst.b[:len(part)], part), dst.written)
	}

	// The slot changed behind its index's back.
	dst.b[r.ix.Offsets()[3]] ^= 1
	p = plan(describe(t, part, Default))
	if err := p.Assemble(dst); err != nil {
		t.Fatal(err)
	}
	err := p.Find(dst)
	if !errors.Is(err, ErrStaleIndex) || !strings.Contains(err.Error(), r.ix.Chunks[3].SHA256) {
		t.Fatalf("Find: %v, want chunk 3 named and a stale index", err)
	}
	t.Log(err)
}
