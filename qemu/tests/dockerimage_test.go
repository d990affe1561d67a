package tests

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"berth.dev/berth/image"
	"berth.dev/berth/qemu"
)

// busyboxImage writes a `docker save` archive of a one-layer image made
// offline from the build's busybox-static package (no registry is
// reachable): busybox, its applets as links, and /www/index.html. It
// returns the archive's path.
func busyboxImage(t *testing.T, b qemu.Build, tag string) string {
	t.Helper()
	deb := lockedDeb(t, b, "busybox-static")
	// Debian 13 installs into /usr only; older releases into /bin.
	bb, err := debFile(deb, "./usr/bin/busybox")
	if err != nil {
		bb, err = debFile(deb, "./bin/busybox")
	}
	if err != nil {
		t.Fatal(err)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	mtime := time.Unix(0, 0)
	add := func(h *tar.Header, body []byte) {
		h.ModTime = mtime
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	for _, d := range []string{"bin/", "www/", "tmp/", "etc/"} {
		add(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	}
	add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, bb)
	for _, a := range []string{"sh", "echo", "cat", "httpd", "sleep", "ls", "wget", "mkdir"} {
		add(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, nil)
	}
	add(&tar.Header{Name: "www/index.html", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("hello from the image\n"))
	add(&tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("root:x:0:0:root:/:/bin/sh\n"))
	tw.Close()

	diffID := sha256.Sum256(layer.Bytes())
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Cmd": []string{"/bin/sh"}, "Env": []string{"PATH=/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
	})
	configID := sha256.Sum256(config)
	configName := hex.EncodeToString(configID[:]) + ".json"
	layerName := hex.EncodeToString(diffID[:]) + "/layer.tar"
	manifest, _ := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{tag}, "Layers": []string{layerName}}})

	out := filepath.Join(t.TempDir(), "busybox.tar")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	aw := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		body []byte
	}{{configName, config}, {layerName, layer.Bytes()}, {"manifest.json", manifest}} {
		if dir := filepath.Dir(e.name); dir != "." {
			aw.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime})
		}
		aw.WriteHeader(&tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.body)), ModTime: mtime})
		aw.Write(e.body)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// lockedDeb is the cached .deb of the package at the version
// rootfs/packages.lock pins: the cache also keeps older releases' files.
func lockedDeb(t *testing.T, b qemu.Build, name string) string {
	t.Helper()
	lockPath := filepath.Join(filepath.Dir(b.Dir), "rootfs", "packages.lock")
	lock, err := image.ReadLock(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, pkgs := range lock {
		for _, p := range pkgs {
			if p.Name != name {
				continue
			}
			deb := filepath.Join(b.Dir, "cache", p.DebFile())
			if _, err := os.Stat(deb); err != nil {
				t.Fatalf("%s is not in the build's cache (%v): run make image", p, err)
			}
			return deb
		}
	}
	t.Fatalf("%s: no package %s", lockPath, name)
	return ""
}

// debFile reads one file out of a Debian package.
func debFile(deb, name string) ([]byte, error) {
	cmd := exec.Command("dpkg-deb", "--fsys-tarfile", deb)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("dpkg-deb %s: %w", deb, err)
	}
	defer cmd.Wait()
	defer io.Copy(io.Discard, out)
	tr := tar.NewReader(out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: no %s", deb, name)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", deb, err)
		}
		if h.Name == name {
			return io.ReadAll(tr)
		}
	}
}
