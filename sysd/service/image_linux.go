package service

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/u-root/u-root/pkg/mount/loop"

	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/kmod"
)

// Image returns the directory holding the root file system Image= names:
// "host" (the running root image itself), an absolute directory or image
// file, or NAME for ImagesDir/NAME.squashfs, NAME.erofs or NAME/. Image files
// are loop-mounted read-only once and shared by every service using them.
func (m *Manager) Image(name string) (string, error) {
	if name == "" || name == "host" {
		return "/", nil
	}
	m.imgMu.Lock()
	defer m.imgMu.Unlock()
	if dir, ok := m.images[name]; ok {
		return dir, nil
	}
	path := name
	if !filepath.IsAbs(name) {
		path = filepath.Join(m.cfg.ImagesDir, name)
		if _, err := os.Stat(path + ".erofs"); err == nil {
			path += ".erofs"
		} else if _, err := os.Stat(path + ".squashfs"); err == nil {
			path += ".squashfs"
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("Image=%s: %w", name, err)
	}
	if st.IsDir() {
		m.images[name] = path
		return path, nil
	}
	fstype := "erofs"
	if strings.HasSuffix(path, ".squashfs") {
		fstype = "squashfs"
	}
	dir := filepath.Join(m.cfg.RunDir, "images", strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("Image=%s: %w", name, err)
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		// PID 1 loads the loop module in the background; a service may
		// be first. Loading it twice is harmless.
		kmod.LoadAll([]string{"loop"})
	}
	l, err := loop.New(path, fstype, "")
	if err != nil {
		return "", fmt.Errorf("Image=%s: attach %s to a loop device: %w", name, path, err)
	}
	if _, err := l.Mount(dir, unix.MS_RDONLY|unix.MS_NODEV); err != nil {
		l.Free()
		return "", fmt.Errorf("Image=%s: mount %s (%s) on %s: %w", name, path, fstype, dir, err)
	}
	m.images[name] = dir
	return dir, nil
}
