package image

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ulikunitz/xz"
	"path"
	"sort"
	"strings"
)

// ModDep is a parsed modules.dep: module path (relative to
// /lib/modules/KVER) to the paths it needs.
type ModDep map[string][]string

// ParseModDep reads modules.dep as depmod writes it.
func ParseModDep(r io.Reader) (ModDep, error) {
	d := ModDep{}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; s.Scan(); n++ {
		mod, deps, ok := strings.Cut(s.Text(), ":")
		if !ok {
			return nil, fmt.Errorf("modules.dep line %d: no colon in %q", n, s.Text())
		}
		d[strings.TrimSpace(mod)] = strings.Fields(deps)
	}
	return d, s.Err()
}

// ModName turns a module path into the name the kernel uses for it.
func ModName(p string) string {
	b := path.Base(p)
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(b, ext) {
			b = strings.TrimSuffix(b, ext)
			break
		}
	}
	return strings.ReplaceAll(b, "-", "_")
}

// ByName resolves module names (dashes or underscores) to paths.
func (d ModDep) ByName(names []string) ([]string, error) {
	idx := map[string]string{}
	for p := range d {
		idx[ModName(p)] = p
	}
	var out, missing []string
	for _, n := range names {
		if p, ok := idx[strings.ReplaceAll(n, "-", "_")]; ok {
			out = append(out, p)
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("modules not in this kernel: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// Select returns the module paths under any of the include prefixes and
// under none of the exclude prefixes.
func (d ModDep) Select(include, exclude []string) []string {
	var out []string
	for p := range d {
		if hasPrefix(p, include) && !hasPrefix(p, exclude) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func hasPrefix(p string, prefixes []string) bool {
	for _, pre := range prefixes {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// Closure returns start plus everything it depends on, sorted.
func (d ModDep) Closure(start []string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		if seen[p] {
			return
		}
		seen[p] = true
		for _, q := range d[p] {
			walk(q)
		}
	}
	for _, p := range start {
		walk(p)
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// ParsePrefixes reads an include file: one prefix a line, "!" before a
// prefix excludes it, "#" starts a comment.
func ParsePrefixes(s string) (include, exclude []string) {
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "!"):
			exclude = append(exclude, strings.TrimSpace(line[1:]))
		default:
			include = append(include, line)
		}
	}
	return include, exclude
}

// unxz writes the decompression of the .xz file src to dst.
func unxz(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	r, err := xz.NewReader(bufio.NewReader(in))
	if err != nil {
		return fmt.Errorf("decompress %s: %w", src, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return fmt.Errorf("decompress %s: %w", src, err)
	}
	return out.Close()
}
