package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImageCompression(t *testing.T) {
	for _, tc := range []struct {
		name, file string // file "" means none
		want       Compression
		err        string
	}{
		{name: "none", want: Zstd},
		{name: "xz", file: "xz\n", want: XZ},
		{name: "comment", file: "# why\nxz # the console\n", want: XZ},
		{name: "zstd", file: "zstd", want: Zstd},
		{name: "unknown", file: "lz4\n", err: `compression "lz4": not zstd or xz`},
		{name: "two", file: "xz zstd\n", err: `found "xz zstd", want one word: zstd or xz`},
		{name: "empty", file: "# nothing\n", err: `found "", want one word: zstd or xz`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Rootfs: t.TempDir()}
			dir := filepath.Join(c.Rootfs, "images", "console")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.file != "" {
				if err := os.WriteFile(filepath.Join(dir, "compression"), []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := imageCompression(c, "console")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), filepath.Join(dir, "compression")) {
					t.Fatalf("err = %v, want one naming the file and %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
			if _, err := got.args(); err != nil {
				t.Errorf("args of %q: %v", got, err)
			}
		})
	}
}
