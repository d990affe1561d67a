package chunk

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// data is n pseudo-random bytes: incompressible, as a compressed image's
// are, and the same in every run.
func data(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func sums(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	err := Split(bytes.NewReader(b), Default, func(p Piece) error {
		if len(p.Data) > Default.Max || (len(p.Data) < Default.Min && p.Offset+int64(len(p.Data)) != int64(len(b))) {
			t.Errorf("chunk at %d: %d bytes, outside [%d, %d]", p.Offset, len(p.Data), Default.Min, Default.Max)
		}
		out = append(out, p.Hex())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// An insertion or a deletion changes the chunks around it only: the
// chunker finds its cut points again after it.
func TestBoundariesStableUnderEdits(t *testing.T) {
	base := data(1, 8<<20)
	before := sums(t, base)
	set := map[string]bool{}
	for _, s := range before {
		set[s] = true
	}
	at := 3 << 20
	for name, edited := range map[string][]byte{
		"insert 100 bytes": append(append(append([]byte(nil), base[:at]...), data(2, 100)...), base[at:]...),
		"delete 5000":      append(append([]byte(nil), base[:at]...), base[at+5000:]...),
		"overwrite 1 byte": func() []byte { b := append([]byte(nil), base...); b[at] ^= 1; return b }(),
	} {
		after := sums(t, edited)
		fresh := 0
		for _, s := range after {
			if !set[s] {
				fresh++
			}
		}
		t.Logf("%s: %d of %d chunks new (%d before)", name, fresh, len(after), len(before))
		// One or two chunks around the edit, and nothing else.
		if fresh == 0 || fresh > 3 {
			t.Errorf("%s: %d of %d chunks are new, want 1 to 3", name, fresh, len(after))
		}
	}
	if n := len(before); n < (8<<20)/Default.Max || n > (8<<20)/Default.Min {
		t.Errorf("%d chunks for 8 MiB", n)
	}
}

func TestIndexRoundTripAndStore(t *testing.T) {
	part := append(data(3, 1<<20), bytes.Repeat([]byte("berth "), 100000)...)
	s := Store{Dir: t.TempDir()}
	ix, err := MakeIndex("root.img", bytes.NewReader(part), Default, s.Put)
	if err != nil {
		t.Fatal(err)
	}
	whole := sha256.Sum256(part)
	if ix.Size != int64(len(part)) || ix.SHA256 != hex.EncodeToString(whole[:]) {
		t.Fatalf("index of %d bytes: size %d sha256 %s", len(part), ix.Size, ix.SHA256)
	}
	got, err := Parse("root.img.idx", ix.Marshal())
	if err != nil {
		t.Fatalf("%v\n%s", err, ix.Marshal())
	}
	if !reflect.DeepEqual(got, ix) {
		t.Fatalf("parsed index differs:\n%+v\n%+v", got, ix)
	}
	// The repeated text compresses; the random bytes do not.
	if ix.StoredBytes() >= ix.Size*3/4 {
		t.Errorf("stored %d of %d bytes", ix.StoredBytes(), ix.Size)
	}
	// Every chunk reads back to the part's bytes at its offset.
	for i, off := range ix.Offsets() {
		c := ix.Chunks[i]
		f, err := os.Open(s.Path(c.SHA256))
		if err != nil {
			t.Fatal(err)
		}
		b, err := Open(c, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, part[off:off+c.Size]) {
			t.Fatalf("chunk %d differs from the part at %d", i, off)
		}
	}
	// The same part again: the same index and the same stored bytes.
	s2 := Store{Dir: t.TempDir()}
	ix2, err := MakeIndex("root.img", bytes.NewReader(part), Default, s2.Put)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ix.Marshal(), ix2.Marshal()) {
		t.Error("a second index of the same part differs")
	}
	a, _ := os.ReadFile(s.Path(ix.Chunks[0].SHA256))
	b, _ := os.ReadFile(s2.Path(ix.Chunks[0].SHA256))
	if !bytes.Equal(a, b) {
		t.Error("a chunk stored twice has different bytes")
	}
}

func TestOpenRefuses(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	part := data(4, 100000)
	ix, err := MakeIndex("vmlinuz", bytes.NewReader(part), Default, s.Put)
	if err != nil {
		t.Fatal(err)
	}
	c := ix.Chunks[0]
	stored, _ := os.ReadFile(s.Path(c.SHA256))
	other := ix.Chunks[1]
	otherStored, _ := os.ReadFile(s.Path(other.SHA256))
	flipped := append([]byte(nil), stored...)
	flipped[len(flipped)/2] ^= 0xff
	for name, tc := range map[string]struct {
		c    Chunk
		body []byte
		want string
	}{
		"another chunk's bytes": {Chunk{c.SHA256, other.Size, other.Stored}, otherStored, "have SHA-256"},
		"oversized":             {c, append(append([]byte(nil), stored...), 0), "stored bytes, the index says"},
		"truncated":             {c, stored[:len(stored)-1], "stored bytes, the index says"},
		"corrupt":               {c, flipped, "chunk " + c.SHA256},
		"not zstd":              {Chunk{c.SHA256, c.Size, 5}, []byte("hello"), "not zstd"},
		"wrong size":            {Chunk{c.SHA256, c.Size - 1, c.Stored}, stored, "bytes, the index says"},
	} {
		_, err := Open(tc.c, bytes.NewReader(tc.body))
		if err == nil || !errors.Is(err, ErrChunk) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a refusal saying %q", name, err, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	ix, err := MakeIndex("root.img", bytes.NewReader(data(5, 300000)), Default, s.Put)
	if err != nil {
		t.Fatal(err)
	}
	good := string(ix.Marshal())
	first := ix.Chunks[0]
	for name, tc := range map[string]struct{ from, to, want string }{
		"format":          {`"format":1`, `"format":2`, "root.img.idx: format: 2"},
		"chunker":         {`"chunker":"fastcdc"`, `"chunker":"rabin"`, "chunker:"},
		"params":          {`"max":262144`, `"max":1000`, "params:"},
		"huge max":        {`"max":262144`, `"max":999999999`, "params:"},
		"short part":      {`"size":300000`, `"size":299999`, "longer than the part"},
		"long part":       {`"size":300000`, `"size":300001`, "chunks: 300000 bytes in all"},
		"bad hash":        {first.SHA256, strings.ToUpper(first.SHA256), "chunks[0].sha256"},
		"part hash":       {ix.SHA256, "00", "sha256:"},
		"oversized chunk": {`"size":` + itoa(first.Size), `"size":` + itoa(first.Size+262144), "chunks[0].size"},
		"stored too big":  {`"stored":` + itoa(first.Stored), `"stored":` + itoa(first.Size*2), "chunks[0].stored"},
		"unknown field":   {`"part":`, `"extra":1,"part":`, "unknown field"},
		"trailing":        {"]}\n", "]}\n{}", "data after the index"},
	} {
		bad := strings.Replace(good, tc.from, tc.to, 1)
		if bad == good {
			t.Fatalf("%s: %q is not in the index", name, tc.from)
		}
		_, err := Parse("root.img.idx", []byte(bad))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.want)
		}
	}
	if _, err := Parse("root.img.idx", []byte(good)); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestStorePutKeepsWhatItHas(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	p := Piece{Data: []byte("abc"), Sum: sha256.Sum256([]byte("abc"))}
	n1, err := s.Put(p)
	if err != nil {
		t.Fatal(err)
	}
	n2, err := s.Put(p)
	if err != nil || n1 != n2 {
		t.Fatalf("second put: %d %v, first %d", n2, err, n1)
	}
	if m, _ := filepath.Glob(filepath.Join(s.Dir, "*", "*.tmp")); len(m) != 0 {
		t.Errorf("left behind: %v", m)
	}
}
