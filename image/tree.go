// Package image builds Berth's boot artefacts: the initramfs, the root
// image, the ESP and the GPT disk, reproducibly and without loop devices or
// mounts on the build host.
package image

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Kind is what a tree entry is.
type Kind int

const (
	File Kind = iota
	Dir
	Link
	CharDev
)

// Entry is one file of a tree. A File's content comes from Src (a host
// path) or, when Src is empty, from Data.
type Entry struct {
	Kind         Kind
	Mode         fs.FileMode // permission bits only
	Src          string
	Data         []byte
	Target       string // Link
	Major, Minor uint32 // CharDev
}

// Tree is a file system to be packed, keyed by clean absolute path. Every
// entry is owned by root and gets the same timestamp when packed: only the
// paths, modes and contents matter, so the output is reproducible.
type Tree map[string]Entry

func clean(p string) string { return path.Clean("/" + p) }

// Add puts e at p and creates the missing parent directories. A parent
// that is a link in the tree is followed (in a merged-/usr image, /bin/nc
// lands in /usr/bin), and a directory added where a link to a directory
// already is keeps the link.
func (t Tree) Add(p string, e Entry) {
	p = t.canonical(p)
	if old, ok := t[p]; ok && old.Kind == Link && e.Kind == Dir {
		if r, ok := t.Resolve(p); ok && t[r].Kind == Dir {
			return
		}
	}
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		if _, ok := t[d]; !ok {
			t[d] = Entry{Kind: Dir, Mode: 0o755}
		}
	}
	t[p] = e
}

// canonical is p with the links among its parent directories followed.
func (t Tree) canonical(p string) string {
	p = clean(p)
	if p == "/" {
		return p
	}
	if r, ok := t.Resolve(path.Dir(p)); ok {
		return path.Join(r, path.Base(p))
	}
	return p
}

// Has says whether p is in the tree, following links in its parent
// directories but not p itself.
func (t Tree) Has(p string) bool {
	_, ok := t[t.canonical(p)]
	return ok
}

// Mkdir adds directories with mode.
func (t Tree) Mkdir(mode fs.FileMode, paths ...string) {
	for _, p := range paths {
		t.Add(p, Entry{Kind: Dir, Mode: mode})
	}
}

// File adds a file with the given content.
func (t Tree) File(p string, mode fs.FileMode, data []byte) {
	t.Add(p, Entry{Kind: File, Mode: mode, Data: data})
}

// Copy adds the host file src at p, keeping its permission bits.
func (t Tree) Copy(p, src string) error {
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("add %s to image: %w", p, err)
	}
	if st.IsDir() {
		return fmt.Errorf("add %s to image: %s is a directory", p, src)
	}
	t.Add(p, Entry{Kind: File, Mode: st.Mode().Perm(), Src: src})
	return nil
}

// Symlink adds a symbolic link p -> target.
func (t Tree) Symlink(p, target string) {
	t.Add(p, Entry{Kind: Link, Mode: 0o777, Target: target})
}

// CopyDir adds the host directory src below p, following nothing: links
// stay links. Directories keep their modes.
func (t Tree) CopyDir(p, src string) error {
	return filepath.WalkDir(src, func(hp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, hp)
		dst := path.Join(p, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			t.Add(dst, Entry{Kind: Dir, Mode: info.Mode() & (fs.ModePerm | fs.ModeSticky)})
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(hp)
			if err != nil {
				return err
			}
			t.Symlink(dst, target)
		case info.Mode().IsRegular():
			// Set-id bits stay: sudo in the console image needs its own.
			t.Add(dst, Entry{Kind: File, Mode: info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), Src: hp})
		}
		return nil
	})
}

// Paths returns the paths in sorted order, parents before children.
func (t Tree) Paths() []string {
	out := make([]string, 0, len(t))
	for p := range t {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Content returns a file entry's bytes.
func (e Entry) Content() ([]byte, error) {
	if e.Src == "" {
		return e.Data, nil
	}
	b, err := os.ReadFile(e.Src)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", e.Src, err)
	}
	return b, nil
}

// Resolve follows symlinks inside the tree (not on the host), in every
// component of p (a usr-merged /bin is a link to usr/bin), and returns the
// final path, for finding a library whose soname is a link.
func (t Tree) Resolve(p string) (string, bool) {
	rest := strings.Split(strings.TrimPrefix(clean(p), "/"), "/")
	cur := "/"
	for hops := 0; len(rest) > 0; {
		next := path.Join(cur, rest[0])
		rest = rest[1:]
		e, ok := t[next]
		if !ok {
			return "", false
		}
		if e.Kind != Link {
			cur = next
			continue
		}
		if hops++; hops > 16 {
			return "", false
		}
		target := e.Target
		if !strings.HasPrefix(target, "/") {
			target = path.Join(cur, target)
		}
		rest = append(strings.Split(strings.TrimPrefix(clean(target), "/"), "/"), rest...)
		cur = "/"
	}
	return cur, true
}
