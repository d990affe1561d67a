package chunk

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Store is a directory of chunks, each stored once, zstd-compressed,
// under its SHA-256: DIR/ab/abcdef….zst. A repository's store is plain
// files that any static HTTP server serves.
type Store struct{ Dir string }

// Rel is a chunk's path below a store's directory, with slashes: the same
// on disk and in a URL.
func Rel(sum string) string { return sum[:2] + "/" + sum + ".zst" }

// Path is the chunk's file.
func (s Store) Path(sum string) string { return filepath.Join(s.Dir, filepath.FromSlash(Rel(sum))) }

var (
	encOnce sync.Once
	enc     *zstd.Encoder
	dec     *zstd.Decoder
)

// codec makes the encoder and decoder once. One encoder goroutine and a
// fixed level make the stored bytes the same on every build.
func codec() {
	encOnce.Do(func() {
		enc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
		dec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxChunk))
	})
}

// Put stores the piece unless the store has it, and returns its stored
// size. A file appears whole or not at all (written aside, then renamed).
func (s Store) Put(p Piece) (int64, error) {
	path := s.Path(p.Hex())
	if fi, err := os.Stat(path); err == nil {
		return fi.Size(), nil
	}
	codec()
	b := enc.EncodeAll(p.Data, nil)
	if err := s.putStored(p.Hex(), b); err != nil {
		return 0, err
	}
	return int64(len(b)), nil
}

// ErrChunk is what every refused chunk's error matches.
var ErrChunk = errors.New("chunk refused")

// ErrStaleIndex is what Find's error also matches when the chunk at fault
// was taken where a source's kept index put it: the index may be stale.
var ErrStaleIndex = errors.New("a kept index may be stale")

// ChunkError says which chunk was refused and why.
type ChunkError struct {
	SHA256 string
	Reason string
	// StaleIndex names the source whose kept index put the chunk where
	// it was not; "" when no kept index was at fault.
	StaleIndex string
}

func (e *ChunkError) Error() string { return fmt.Sprintf("chunk %s: %s", e.SHA256, e.Reason) }
func (e *ChunkError) Is(target error) bool {
	return target == ErrChunk || target == ErrStaleIndex && e.StaleIndex != ""
}

// Open reads chunk c's stored bytes from r and returns its bytes in the
// part, checked against the index: no more than c.Stored bytes are read,
// no more than c.Size decompressed, and their SHA-256 must be c's.
func Open(c Chunk, r io.Reader) ([]byte, error) {
	_, data, err := read(c, r)
	return data, err
}

// read is Open that also returns the stored bytes.
func read(c Chunk, r io.Reader) (stored, data []byte, err error) {
	return decode(c, r, true)
}

// readCached reads a chunk from the machine's own cache. Its stored bytes
// need not be the repository's (a chunk copied from a slot is compressed
// here, perhaps by another zstd version): only the bytes it decodes to
// must be c's.
func readCached(c Chunk, r io.Reader) ([]byte, error) {
	_, data, err := decode(c, r, false)
	return data, err
}

// decode reads at most c.Stored bytes (exact: the index's size must be
// what comes) or zstd's bound for c.Size, decodes at most c.Size bytes,
// and checks their SHA-256.
func decode(c Chunk, r io.Reader, exact bool) (stored, data []byte, err error) {
	refuse := func(f string, a ...any) ([]byte, []byte, error) {
		return nil, nil, &ChunkError{SHA256: c.SHA256, Reason: fmt.Sprintf(f, a...)}
	}
	limit := storedBound(c.Size)
	if exact {
		limit = c.Stored
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("chunk %s: read: %w", c.SHA256, err)
	}
	if exact && n != c.Stored {
		return refuse("%d stored bytes, the index says %d", n, c.Stored)
	}
	if n > limit {
		return refuse("over %d stored bytes, more than %d bytes can take", limit, c.Size)
	}
	codec()
	data, err = dec.DecodeAll(buf.Bytes(), make([]byte, 0, c.Size))
	if err != nil {
		return refuse("not zstd the index's size allows (%v): tampered with or damaged", err)
	}
	if int64(len(data)) != c.Size {
		return refuse("%d bytes, the index says %d", len(data), c.Size)
	}
	if !c.matches(data) {
		return refuse("its bytes have SHA-256 %x: tampered with or damaged", sha256.Sum256(data))
	}
	return buf.Bytes(), data, nil
}

// matches says whether data are c's bytes.
func (c Chunk) matches(data []byte) bool {
	sum := sha256.Sum256(data)
	return int64(len(data)) == c.Size && hex.EncodeToString(sum[:]) == c.SHA256
}

// putStored keeps a chunk's stored bytes, already checked, under its hash.
// Not internal/atomicfile: a publish writes thousands of chunks, and no
// chunk needs to survive a power cut, since every reader checks a chunk
// against its index (a cached chunk that fails is fetched again); the
// rename only keeps a half-written file from ever having a chunk's name.
func (s Store) putStored(sum string, stored []byte) error {
	path := s.Path(sum)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("chunk store: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, stored, 0o644); err != nil {
		return fmt.Errorf("chunk store: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("chunk store: %w", err)
	}
	return nil
}
