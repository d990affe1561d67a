package image

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"berth.dev/berth/internal/kmod"
	"berth.dev/berth/internal/layout"
	"berth.dev/berth/internal/osrelease"
)

// imagePrefix marks a package group that is a system container image:
// rootfs/packages/image-NAME.list becomes /usr/lib/berth/images/NAME.squashfs.
const imagePrefix = "image-"

// ImagesDir is where the root image holds the system container images.
const ImagesDir = "/usr/lib/berth/images"

// containerImages builds every system container image the lock names and
// adds each to the root tree; it returns NAME → size in bytes.
func containerImages(c Config, lock Lock, root Tree) (map[string]int64, error) {
	var names []string
	for g := range lock {
		if strings.HasPrefix(g, imagePrefix) {
			names = append(names, strings.TrimPrefix(g, imagePrefix))
		}
	}
	sort.Strings(names)
	sizes := map[string]int64{}
	for _, name := range names {
		t, err := imageTree(c, name, lock[imagePrefix+name])
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", name, err)
		}
		if err := hostEtc(c, name, t, root); err != nil {
			return nil, err
		}
		// The root's bundle as built, for user-data's ca_certs to add to.
		if e, ok := root[layout.CABundle]; ok {
			if _, dup := root[layout.CABundleBase]; !dup {
				root.Add(layout.CABundleBase, e)
			}
		}
		if err := mountPoints(c, name, t, root); err != nil {
			return nil, err
		}
		dir := c.work("images", name)
		if err := Materialize(t, dir); err != nil {
			return nil, fmt.Errorf("image %s: %w", name, err)
		}
		comp, err := imageCompression(c, name)
		if err != nil {
			return nil, err
		}
		out := c.work("images", name+".squashfs")
		if err := Squashfs(dir, out, c.Epoch, comp); err != nil {
			return nil, fmt.Errorf("image %s: %w", name, err)
		}
		if err := root.Copy(ImagesDir+"/"+name+".squashfs", out); err != nil {
			return nil, err
		}
		st, _ := os.Stat(out)
		sizes[name] = st.Size()
	}
	return sizes, nil
}

// imageCompression reads rootfs/images/NAME/compression: zstd (also
// when there is no such file) or xz, after "#" comment lines.
func imageCompression(c Config, name string) (Compression, error) {
	file := filepath.Join(c.Rootfs, "images", name, "compression")
	raw, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return Zstd, nil
	} else if err != nil {
		return "", err
	}
	// The module lists' syntax: a line each, "#" comments.
	words := strings.Fields(strings.Join(kmod.ParseList(string(raw)), " "))
	if len(words) != 1 {
		return "", fmt.Errorf("%s: found %q, want one word: zstd or xz", file, strings.Join(words, " "))
	}
	comp := Compression(words[0])
	if _, err := comp.args(); err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	return comp, nil
}

// imageTree is one image's file system: its packages extracted (no
// maintainer script runs), then the fixups those scripts would have made,
// then rootfs/images/NAME/ on top.
func imageTree(c Config, name string, pkgs []Pkg) (Tree, error) {
	debs, err := c.apt().Fetch(pkgs)
	if err != nil {
		return nil, err
	}
	dir := c.work("image-pkgs", name)
	if err := Extract(debs, dir); err != nil {
		return nil, err
	}
	if err := mergedUsr(dir); err != nil {
		return nil, err
	}
	t := Tree{}
	if err := t.CopyDir("/", dir); err != nil {
		return nil, err
	}
	// Documentation, manuals and translations nobody reads on a server
	// (a third of the console image).
	for p := range t {
		for _, drop := range []string{"/usr/share/doc", "/usr/share/man", "/usr/share/info", "/usr/share/locale", "/usr/share/lintian", "/usr/share/bug"} {
			if p == drop || strings.HasPrefix(p, drop+"/") {
				delete(t, p)
			}
		}
	}
	if err := exclude(c, name, t); err != nil {
		return nil, err
	}
	// Mount points: the image is read-only, so the runtime cannot make them.
	t.Mkdir(0o755, "/proc", "/sys", "/dev", "/run", "/etc", "/home", "/var", "/mnt", "/usr/bin", "/usr/sbin", "/bin", "/sbin")
	t.Mkdir(0o700, "/root")
	t.Mkdir(0o1777, "/tmp")
	t.Symlink("/var/run", "../run")
	for _, f := range []string{"passwd", "group"} {
		if err := t.Copy("/etc/"+f, filepath.Join(c.Rootfs, "files/etc", f)); err != nil {
			return nil, err
		}
	}
	t.File("/usr/lib/os-release", 0o644, []byte(osrelease.Render(c.Version)))
	t.Symlink("/etc/os-release", "../usr/lib/os-release")
	if err := busyboxLinks(t, dir); err != nil {
		return nil, err
	}
	if err := caBundle(t, dir); err != nil {
		return nil, err
	}
	// dash's /bin/sh, which its maintainer script would make.
	if !t.Has("/bin/sh") {
		if t.Has("/bin/dash") {
			t.Symlink("/bin/sh", "dash")
		}
	}
	if err := applyAlternatives(c, name, t); err != nil {
		return nil, err
	}
	if extra := filepath.Join(c.Rootfs, "images", name, "root"); exists(extra) {
		if err := t.CopyDir("/", extra); err != nil {
			return nil, fmt.Errorf("rootfs/images/%s/root: %w", name, err)
		}
	}
	return t, nil
}

// exclude drops what rootfs/images/NAME/exclude.list names: a path, a
// directory (with everything below) or a glob, one a line. A line that
// matches nothing is an error, so the list cannot rot silently when a
// package changes.
func exclude(c Config, name string, t Tree) error {
	list := filepath.Join(c.Rootfs, "images", name, "exclude.list")
	raw, err := os.ReadFile(list)
	if err != nil {
		return nil
	}
	for _, pat := range moduleNames(string(raw)) {
		if _, err := path.Match(pat, ""); err != nil {
			return fmt.Errorf("%s: %q: %w", list, pat, err)
		}
		found := false
		for p := range t {
			if ok, _ := path.Match(pat, p); ok || strings.HasPrefix(p, pat+"/") {
				delete(t, p)
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%s: %s matches nothing in image %s", list, pat, name)
		}
	}
	return nil
}

// hostEtc copies into the root image's /etc what rootfs/images/NAME/
// host-etc.list names (paths below /etc, one a line) from the image's
// packages: an image that runs with the host's /etc (the console) finds
// its packages' configuration there.
func hostEtc(c Config, name string, img, root Tree) error {
	raw, err := os.ReadFile(filepath.Join(c.Rootfs, "images", name, "host-etc.list"))
	if err != nil {
		return nil
	}
	for _, p := range moduleNames(string(raw)) {
		p = "/etc/" + strings.TrimPrefix(p, "/")
		found := false
		for q, e := range img {
			if q == p || strings.HasPrefix(q, p+"/") {
				root.Add(q, e)
				found = true
			}
		}
		if !found {
			return fmt.Errorf("rootfs/images/%s/host-etc.list: %s is not in the image", name, p)
		}
	}
	return nil
}

// caBundle writes /etc/ssl/certs/ca-certificates.crt from the certificates
// in /usr/share/ca-certificates, as update-ca-certificates would.
func caBundle(t Tree, dir string) error {
	src := filepath.Join(dir, "usr/share/ca-certificates")
	if !exists(src) {
		return nil
	}
	var files []string
	filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".crt") {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	var bundle []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		bundle = append(bundle, b...)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			bundle = append(bundle, '\n')
		}
	}
	t.File("/etc/ssl/certs/ca-certificates.crt", 0o644, bundle)
	return nil
}

// busyboxLinks does what `busybox --install` would: a link for each
// applet that no package file already provides. The static busybox from
// the package runs on the build host to list them.
func busyboxLinks(t Tree, dir string) error {
	bb := filepath.Join(dir, "bin/busybox")
	if !exists(bb) {
		return nil
	}
	out, err := exec.Command(bb, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("busybox --list-full: %w", err)
	}
	for _, p := range strings.Fields(string(out)) {
		p = "/" + p
		if !t.Has(p) {
			t.Symlink(p, "/bin/busybox")
		}
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
