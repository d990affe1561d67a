package image

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"berth.dev/berth/internal/layout"
)

// The tree appended to a root image checks it, is the same for the same
// image, and catches one changed byte.
func TestAppendVerity(t *testing.T) {
	data := make([]byte, 37*layout.VerityBlockSize+100) // not whole blocks
	rand.New(rand.NewSource(1)).Read(data)
	img, v := withVerity(t, data)
	if v.DataBlocks != 38 {
		t.Fatalf("data blocks %d, want 38", v.DataBlocks)
	}
	got, _ := os.ReadFile(img)
	if int64(len(got)) <= int64(v.HashOffset()) || !bytes.Equal(got[:len(data)], data) || !bytes.Equal(got[len(data):v.HashOffset()], make([]byte, int(v.HashOffset())-len(data))) {
		t.Fatalf("image is %d bytes; want the data, zeros to %d, then the tree", len(got), v.HashOffset())
	}
	check := func(path string) error { return VerifyVerity(path, v) }
	if err := check(img); err != nil {
		t.Fatalf("the tree does not check its own image: %v", err)
	}

	again := filepath.Join(t.TempDir(), "root.img")
	os.WriteFile(again, data, 0o644)
	if v2, err := AppendVerity(again); err != nil || v2 != v {
		t.Fatalf("the same image got %+v (%v), first %+v", v2, err, v)
	}
	b, _ := os.ReadFile(again)
	b[20*layout.VerityBlockSize+7] ^= 1
	os.WriteFile(again, b, 0o644)
	if err := check(again); err == nil {
		t.Fatal("a changed byte passed the check")
	}
}

// The updater reads a slot's root as far as layout.Verity.ImageSize says:
// it must be where veritysetup's tree ends, for one level and several.
func TestVerityImageSize(t *testing.T) {
	for _, blocks := range []int{1, 2, 128, 129, 128*128 + 1} {
		img, v := withVerity(t, make([]byte, blocks*layout.VerityBlockSize))
		fi, _ := os.Stat(img)
		if uint64(fi.Size()) != v.ImageSize() {
			t.Errorf("%d data blocks: veritysetup made a %d-byte image, ImageSize says %d", blocks, fi.Size(), v.ImageSize())
		}
	}
}

// A changed block changes the tree only above it: its hash block and
// the levels over that, not the hashes of the blocks around it. A delta
// update then fetches a few hash blocks, not the whole tree.
func TestVerityTreeChangesAboveTheChangeOnly(t *testing.T) {
	const blocks = 3*128 + 5 // four level-0 hash blocks and a level above
	data := make([]byte, blocks*layout.VerityBlockSize)
	rand.New(rand.NewSource(2)).Read(data)
	tree := func(data []byte) ([]byte, layout.Verity) {
		img, v := withVerity(t, data)
		b, _ := os.ReadFile(img)
		return b[v.HashOffset():], v
	}
	t1, v1 := tree(data)
	changed := append([]byte(nil), data...)
	changed[200*layout.VerityBlockSize+9] ^= 1
	t2, v2 := tree(changed)
	if v1.Salt != v2.Salt || v1.RootHash == v2.RootHash || len(t1) != len(t2) {
		t.Fatalf("first %+v, then %+v: want the same salt and size, another root hash", v1, v2)
	}
	var differ int
	for off := 0; off < len(t1); off += layout.VerityBlockSize {
		if !bytes.Equal(t1[off:off+layout.VerityBlockSize], t2[off:off+layout.VerityBlockSize]) {
			differ++
		}
	}
	if n := len(t1) / layout.VerityBlockSize; differ != 2 {
		t.Errorf("%d of the tree's %d blocks changed for one data block, want 2 (its hash block and the top)", differ, n)
	}
}

// withVerity writes data to a root image and appends its tree.
func withVerity(t *testing.T, data []byte) (string, layout.Verity) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "root.img")
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := AppendVerity(img)
	if err != nil {
		t.Fatal(err)
	}
	return img, v
}
