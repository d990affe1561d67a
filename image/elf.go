package image

import (
	"debug/elf"
	"fmt"
	"os"
	"path"
	"path/filepath"
)

// libDirs are where Debian's amd64 packages keep shared libraries.
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib", "/usr/lib"}

// AddELF adds the program at p (a path inside the extracted package tree
// root) to t together with its interpreter and every shared library it
// needs, transitively. Links on the way stay links.
func AddELF(t Tree, root, p string) error {
	return addELF(t, root, p, map[string]bool{})
}

func addELF(t Tree, root, p string, seen map[string]bool) error {
	if seen[p] {
		return nil
	}
	seen[p] = true
	real, err := addFollowing(t, root, p)
	if err != nil {
		return err
	}
	f, err := elf.Open(filepath.Join(root, real))
	if err != nil {
		return fmt.Errorf("read ELF %s: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, prog.Filesz)
		if _, err := prog.ReadAt(b, 0); err != nil {
			return fmt.Errorf("%s: read interpreter: %w", p, err)
		}
		interp := string(b[:len(b)-1]) // NUL-terminated
		if err := addELF(t, root, interp, seen); err != nil {
			return err
		}
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("%s: read needed libraries: %w", p, err)
	}
	for _, lib := range needed {
		found := ""
		for _, d := range libDirs {
			if _, err := os.Lstat(filepath.Join(root, d, lib)); err == nil {
				found = path.Join(d, lib)
				break
			}
		}
		if found == "" {
			return fmt.Errorf("%s needs %s, which none of the packages provides", p, lib)
		}
		if err := addELF(t, root, found, seen); err != nil {
			return err
		}
	}
	return nil
}

// addFollowing adds p, and if it is a link, what it points to, until a
// regular file; it returns that file's path.
func addFollowing(t Tree, root, p string) (string, error) {
	for i := 0; i < 16; i++ {
		hp := filepath.Join(root, p)
		st, err := os.Lstat(hp)
		if err != nil {
			return "", fmt.Errorf("add %s: %w", p, err)
		}
		if st.Mode()&os.ModeSymlink == 0 {
			return p, t.Copy(p, hp)
		}
		target, err := os.Readlink(hp)
		if err != nil {
			return "", err
		}
		t.Symlink(p, target)
		if path.IsAbs(target) {
			p = path.Clean(target)
		} else {
			p = path.Join(path.Dir(p), target)
		}
	}
	return "", fmt.Errorf("add %s: too many links", p)
}
