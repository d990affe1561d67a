package chunk

import (
	"bytes"
	"testing"
)

// FuzzParse: an index from the network never panics the parser, and what
// it accepts is consistent: its chunks add up to the part.
func FuzzParse(f *testing.F) {
	s := Store{Dir: f.TempDir()}
	ix, err := MakeIndex("root.img", bytes.NewReader(data(6, 100000)), Default, s.Put)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ix.Marshal())
	f.Add([]byte(`{"format":1,"part":"x","size":1,"sha256":"","chunker":"fastcdc","params":{"min":64,"avg":64,"max":64},"chunks":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, err := Parse("fuzz.idx", b)
		if err != nil {
			return
		}
		var total int64
		for _, c := range ix.Chunks {
			if c.Size <= 0 || c.Size > MaxChunk {
				t.Fatalf("accepted a chunk of %d bytes", c.Size)
			}
			total += c.Size
		}
		if total != ix.Size {
			t.Fatalf("accepted chunks of %d bytes for a part of %d", total, ix.Size)
		}
		if _, err := Parse("again.idx", ix.Marshal()); err != nil {
			t.Fatalf("an accepted index, written again, is refused: %v", err)
		}
	})
}
