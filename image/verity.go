package image

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"berth.dev/berth/internal/layout"
)

// AppendVerity pads the file system image at path to whole verity blocks
// and appends its dm-verity hash tree, made by veritysetup (cryptsetup's
// reference tool, the one the kernel's format is written down with),
// returning what stage 1 needs to check it. No verity superblock: every
// parameter is in the signed release. The salt is the same for every
// release (rootSalt): a block that did not change keeps its hash, so the
// tree changes only above the blocks that did, and a delta update
// fetches those few hash blocks rather than the whole tree (1.6 MB when
// each release had its own salt). A salt guards against no attack here:
// the root hash is signed, and SHA-256 has no known collisions to
// precompute.
func AppendVerity(path string) (layout.Verity, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return layout.Verity{}, fmt.Errorf("verity: %w", err)
	}
	n, err := f.Seek(0, io.SeekEnd)
	if err == nil && n%layout.VerityBlockSize != 0 {
		err = f.Truncate(n + layout.VerityBlockSize - n%layout.VerityBlockSize)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return layout.Verity{}, fmt.Errorf("verity: %s: %w", path, err)
	}
	v := layout.Verity{
		DataBlocks: (uint64(n) + layout.VerityBlockSize - 1) / layout.VerityBlockSize,
		Salt:       rootSalt,
	}
	out, err := veritysetup("format", v, path)
	if err != nil {
		return v, err
	}
	for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
		if k, val, ok := strings.Cut(sc.Text(), ":"); ok && k == "Root hash" {
			v.RootHash = strings.TrimSpace(val)
		}
	}
	if err := v.Check(); err != nil {
		return v, fmt.Errorf("verity: veritysetup format %s: %w:\n%s", path, err, out)
	}
	return v, nil
}

// rootSalt is every root image's dm-verity salt.
var rootSalt = func() string {
	sum := sha256.Sum256([]byte("berth root image dm-verity salt"))
	return hex.EncodeToString(sum[:])
}()

// VerifyVerity checks every block of the image at path against v, as the
// kernel would on reading it.
func VerifyVerity(path string, v layout.Verity) error {
	_, err := veritysetup("verify", v, path, v.RootHash)
	return err
}

// veritysetup runs veritysetup op with v's parameters, the data and the
// tree both in the file at path.
func veritysetup(op string, v layout.Verity, path string, more ...string) ([]byte, error) {
	args := []string{op, "--no-superblock", "--hash=" + layout.VerityHash,
		"--data-block-size=" + strconv.Itoa(layout.VerityBlockSize), "--hash-block-size=" + strconv.Itoa(layout.VerityBlockSize),
		"--data-blocks=" + strconv.FormatUint(v.DataBlocks, 10), "--hash-offset=" + strconv.FormatUint(v.HashOffset(), 10),
		"--salt=" + v.Salt, path, path}
	out, err := exec.Command("veritysetup", append(args, more...)...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("verity: veritysetup %s %s: %w: %s", op, path, err, bytes.TrimSpace(out))
	}
	return out, nil
}
