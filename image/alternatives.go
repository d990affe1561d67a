package image

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Alternative is one link that a package's maintainer script would make
// with update-alternatives (awk → gawk, nc → nc.openbsd, editor → nano).
// No maintainer script runs when an image is built, so the image lists
// them in rootfs/images/NAME/alternatives.list.
type Alternative struct {
	Link, Target string // Target as the link holds it: relative to Link's directory, or absolute
	Line         int
}

// ParseAlternatives reads an alternatives list: "LINK TARGET" a line, #
// comments. name is used in error messages.
func ParseAlternatives(name, s string) ([]Alternative, error) {
	var out []Alternative
	for n, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
			continue
		case len(f) != 2:
			return nil, fmt.Errorf("%s:%d: want \"LINK TARGET\", got %q", name, n+1, strings.TrimSpace(line))
		case !strings.HasPrefix(f[0], "/"):
			return nil, fmt.Errorf("%s:%d: link %q: want an absolute path", name, n+1, f[0])
		}
		out = append(out, Alternative{Link: clean(f[0]), Target: f[1], Line: n + 1})
	}
	return out, nil
}

// applyAlternatives adds rootfs/images/NAME/alternatives.list's links to
// the image. A link whose target the image lacks, or whose path a package
// already fills, is an error, so the list cannot rot silently when a
// package changes.
func applyAlternatives(c Config, name string, t Tree) error {
	list := filepath.Join(c.Rootfs, "images", name, "alternatives.list")
	raw, err := os.ReadFile(list)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("read %s: %w", list, err)
	}
	alts, err := ParseAlternatives(list, string(raw))
	if err != nil {
		return err
	}
	return addAlternatives(list, name, alts, t)
}

func addAlternatives(list, name string, alts []Alternative, t Tree) error {
	for _, a := range alts {
		if t.Has(a.Link) {
			return fmt.Errorf("%s:%d: %s is already in image %s: drop the line", list, a.Line, a.Link, name)
		}
		target := a.Target
		if !strings.HasPrefix(target, "/") {
			target = path.Join(path.Dir(a.Link), target)
		}
		if _, ok := t.Resolve(target); !ok {
			return fmt.Errorf("%s:%d: %s → %s: %s is not in image %s", list, a.Line, a.Link, a.Target, target, name)
		}
		t.Symlink(a.Link, a.Target)
	}
	return nil
}
