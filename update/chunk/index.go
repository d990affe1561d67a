// Package chunk describes a release's parts (root, kernel, initramfs) as
// content-defined chunks: FastCDC cuts a part where its bytes say, not at
// fixed offsets, so bytes two releases share fall into the same chunks
// even when something before them grew or shrank. A part's index lists
// its chunks in order by SHA-256 and size; a machine that already has a
// chunk (in its running slot, in what an earlier attempt left in the
// other slot, or fetched before) need not fetch it again.
//
// The index is a TUF target, so its bytes are pinned by signed metadata:
// every chunk fetched or cached is checked against it before use, and a
// part put together from chunks is checked whole against the signed
// SHA-256 before anything boots it.
package chunk

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Format is the index format this package writes and reads.
const Format = 1

// Chunker names the chunking algorithm in an index.
const Chunker = "fastcdc"

// MaxChunk bounds any index's largest chunk: a machine holds a chunk in
// memory to check it, so an index (even a signed one) cannot make it
// hold more.
const MaxChunk = 4 << 20

// Params are the chunker's sizes, in bytes. They are part of the index:
// a machine cuts what it already has with the same ones to find the
// chunks it can reuse.
type Params struct {
	Min int `json:"min"`
	Avg int `json:"avg"`
	Max int `json:"max"`
}

// Default cuts chunks of 64 KiB on average: small enough that a changed
// file costs little more than its own bytes, large enough that a 200 MB
// root is a few thousand chunks and as many requests.
var Default = Params{Min: 16 << 10, Avg: 64 << 10, Max: 256 << 10}

func (p Params) check() error {
	if p.Min < 64 || p.Min > p.Avg || p.Avg > p.Max || p.Max > MaxChunk {
		return fmt.Errorf("want 64 ≤ min ≤ avg ≤ max ≤ %d, got min %d, avg %d, max %d", MaxChunk, p.Min, p.Avg, p.Max)
	}
	return nil
}

// Chunk is one chunk of a part.
type Chunk struct {
	SHA256 string `json:"sha256"` // of the chunk's bytes in the part
	Size   int64  `json:"size"`   // its length in the part
	Stored int64  `json:"stored"` // its length in the store, compressed
}

// Index describes one part of a release.
type Index struct {
	Format  int     `json:"format"`
	Part    string  `json:"part"` // the part's file name: root.img, vmlinuz…
	Size    int64   `json:"size"`
	SHA256  string  `json:"sha256"` // of the whole part
	Chunker string  `json:"chunker"`
	Params  Params  `json:"params"`
	Chunks  []Chunk `json:"chunks"`
}

// Offsets returns where each chunk starts in the part.
func (ix *Index) Offsets() []int64 {
	off := make([]int64, len(ix.Chunks))
	var at int64
	for i, c := range ix.Chunks {
		off[i] = at
		at += c.Size
	}
	return off
}

// StoredBytes is what fetching every chunk of the part downloads.
func (ix *Index) StoredBytes() int64 {
	var n int64
	for _, c := range ix.Chunks {
		n += c.Stored
	}
	return n
}

// Marshal is the index as it is published: JSON, one chunk a line, so
// that two releases' indexes diff line by line.
func (ix *Index) Marshal() []byte {
	var b bytes.Buffer
	head := *ix
	head.Chunks = nil
	h, _ := json.Marshal(head)
	// {"format":…,"chunks":null} → the chunk list written by hand.
	b.Write(h[:bytes.LastIndex(h, []byte(`null}`))])
	b.WriteString("[\n")
	for i, c := range ix.Chunks {
		l, _ := json.Marshal(c)
		b.Write(l)
		if i < len(ix.Chunks)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]}\n")
	return b.Bytes()
}

// Parse reads an index and checks that it is whole and consistent; name
// is used in errors, which name the field at fault.
func Parse(name string, b []byte) (*Index, error) {
	var ix Index
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&ix); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if d.More() {
		return nil, fmt.Errorf("%s: data after the index", name)
	}
	bad := func(field, f string, a ...any) (*Index, error) {
		return nil, fmt.Errorf("%s: %s: %s", name, field, fmt.Sprintf(f, a...))
	}
	switch {
	case ix.Format != Format:
		return bad("format", "%d; this machine reads format %d", ix.Format, Format)
	case ix.Chunker != Chunker:
		return bad("chunker", "%q; this machine knows %q", ix.Chunker, Chunker)
	case ix.Part == "":
		return bad("part", "empty")
	case ix.Size <= 0:
		return bad("size", "%d; a part has bytes", ix.Size)
	case !isSum(ix.SHA256):
		return bad("sha256", "%q is not a SHA-256 in hex", ix.SHA256)
	}
	if err := ix.Params.check(); err != nil {
		return bad("params", "%v", err)
	}
	var total int64
	for i, c := range ix.Chunks {
		field := fmt.Sprintf("chunks[%d]", i)
		switch {
		case !isSum(c.SHA256):
			return bad(field+".sha256", "%q is not a SHA-256 in hex", c.SHA256)
		case c.Size <= 0 || c.Size > int64(ix.Params.Max):
			return bad(field+".size", "%d; chunks are 1 to %d bytes (params.max)", c.Size, ix.Params.Max)
		case c.Stored <= 0 || c.Stored > storedBound(c.Size):
			return bad(field+".stored", "%d for a chunk of %d bytes; at most %d", c.Stored, c.Size, storedBound(c.Size))
		}
		total += c.Size
		if total > ix.Size {
			return bad(field, "the chunks so far (%d bytes) are longer than the part (%d)", total, ix.Size)
		}
	}
	if total != ix.Size {
		return bad("chunks", "%d bytes in all; the part is %d", total, ix.Size)
	}
	return &ix, nil
}

// storedBound is the most a chunk of n bytes takes compressed: zstd's
// worst case for incompressible data, with room for the frame.
func storedBound(n int64) int64 { return n + n>>7 + 1024 }

func isSum(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && s == strings.ToLower(s)
}
