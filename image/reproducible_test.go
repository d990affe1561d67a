package image_test

import (
	"log"
	"path/filepath"
	"testing"
	"time"

	"berth.dev/berth/image"
	"berth.dev/berth/qemu/vmtest"
	"berth.dev/berth/update"
)

// TestRebuildIsByteIdentical builds the image a second time from the same
// binaries, packages and epoch as `make image` did, and compares: the
// initramfs and the root image must be the same bytes.
func TestRebuildIsByteIdentical(t *testing.T) {
	b := vmtest.FindBuild(t)
	first, err := image.ReadRelease(filepath.Join(b.Dir, "release", "release.json"))
	if err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs("..")
	out := t.TempDir()
	err = image.Build(image.Config{
		Version: first.Version,
		Epoch:   time.Unix(first.SourceDateEpoch, 0),
		Rootfs:  filepath.Join(root, "rootfs"),
		Bin:     filepath.Join(b.Dir, "bin"),
		Out:     out,
		Cache:   filepath.Join(b.Dir, "cache"),
		// The root of trust make image built in.
		TrustedRoot: filepath.Join(b.Dir, "keys", "root.json"),
		Logf:        log.New(testWriter{t}, "", 0).Printf,
	})
	if err != nil {
		t.Fatal(err)
	}
	second, err := image.ReadRelease(filepath.Join(out, "release", "release.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"initrd.img", "root.img", "vmlinuz"} {
		if first.Parts[p] != second.Parts[p] {
			t.Errorf("%s differs between two builds: %+v vs %+v", p, first.Parts[p], second.Parts[p])
		}
	}
	// The installer ISO too: its ESP's file times, the ISO9660 dates and
	// volume UUID all come from the release.
	if err := image.ISO(out, t.Logf); err != nil {
		t.Fatal(err)
	}
	a, err := update.HashFile(filepath.Join(b.Dir, "images", "berth.iso"))
	if err != nil {
		t.Fatalf("%v: make test builds the ISO (make iso)", err)
	}
	if c, err := update.HashFile(filepath.Join(out, "images", "berth.iso")); err != nil || a != c {
		t.Errorf("berth.iso differs between two builds: %+v vs %+v (%v)", a, c, err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
