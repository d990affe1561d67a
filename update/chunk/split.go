package chunk

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	fastcdc "github.com/jotfs/fastcdc-go"
)

// Piece is a chunk as the chunker cuts it; Data is valid only until the
// callback that receives it returns.
type Piece struct {
	Offset int64
	Data   []byte
	Sum    [32]byte
}

// Hex is the piece's SHA-256 as an index writes it.
func (p Piece) Hex() string { return hex.EncodeToString(p.Sum[:]) }

// Split cuts r into content-defined chunks with p and calls fn for each,
// in order. The cut points depend only on the bytes and p: the same bytes
// anywhere in any part give the same chunks.
func Split(r io.Reader, p Params, fn func(Piece) error) error {
	if err := p.check(); err != nil {
		return fmt.Errorf("chunker parameters: %w", err)
	}
	c, err := fastcdc.NewChunker(r, fastcdc.Options{MinSize: p.Min, AverageSize: p.Avg, MaxSize: p.Max,
		BufSize: 4 * p.Max})
	if err != nil {
		return fmt.Errorf("chunker: %w", err)
	}
	for {
		ch, err := c.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("chunk at %d: %w", ch.Offset, err)
		}
		if err := fn(Piece{Offset: int64(ch.Offset), Data: ch.Data, Sum: sha256.Sum256(ch.Data)}); err != nil {
			return err
		}
	}
}

// MakeIndex splits the part read from r and puts each chunk with put,
// which returns the chunk's stored size (a Store's Put does); it returns
// the part's index.
func MakeIndex(part string, r io.Reader, p Params, put func(Piece) (int64, error)) (*Index, error) {
	whole := sha256.New()
	ix := &Index{Format: Format, Part: part, Chunker: Chunker, Params: p}
	err := Split(io.TeeReader(r, whole), p, func(pc Piece) error {
		stored, err := put(pc)
		if err != nil {
			return fmt.Errorf("%s: chunk at %d: %w", part, pc.Offset, err)
		}
		ix.Chunks = append(ix.Chunks, Chunk{SHA256: pc.Hex(), Size: int64(len(pc.Data)), Stored: stored})
		ix.Size += int64(len(pc.Data))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ix.Size == 0 {
		return nil, fmt.Errorf("%s: empty", part)
	}
	ix.SHA256 = hex.EncodeToString(whole.Sum(nil))
	return ix, nil
}

// Describe is the index of a part kept whole, as a slot keeps its root
// image: each chunk's stored size is its size.
func Describe(part string, r io.Reader, p Params) (*Index, error) {
	return MakeIndex(part, r, p, func(pc Piece) (int64, error) { return int64(len(pc.Data)), nil })
}

// IndexFile is MakeIndex of the file at path, cut with Default: how a
// release's parts are cut, for its repository (put a Store's Put) and for
// the slot that keeps its root's index (put nil: Describe).
func IndexFile(path, part string, put func(Piece) (int64, error)) (*Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", part, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	if put == nil {
		return Describe(part, r, Default)
	}
	return MakeIndex(part, r, Default, put)
}
