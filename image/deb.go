package image

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Pkg is one Debian binary package at an exact version.
type Pkg struct{ Name, Version, Arch string }

func (p Pkg) String() string { return p.Name + "=" + p.Version }

// DebFile is the name apt-get download gives the package's file.
func (p Pkg) DebFile() string {
	return fmt.Sprintf("%s_%s_%s.deb", p.Name, strings.ReplaceAll(p.Version, ":", "%3a"), p.Arch)
}

// Lock is packages.lock: for each group (a system image part), the exact
// packages it is built from.
type Lock map[string][]Pkg

// ParseLock reads the lock; name is used in error messages.
func ParseLock(name string, r io.Reader) (Lock, error) {
	l := Lock{}
	group := ""
	s := bufio.NewScanner(r)
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		switch {
		case line == "":
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			group = line[1 : len(line)-1]
			if _, dup := l[group]; dup {
				return nil, fmt.Errorf("%s:%d: group [%s] appears twice", name, n, group)
			}
			l[group] = nil
		default:
			f := strings.Fields(line)
			if len(f) != 3 {
				return nil, fmt.Errorf("%s:%d: want \"NAME VERSION ARCH\", got %q", name, n, line)
			}
			if group == "" {
				return nil, fmt.Errorf("%s:%d: package %s is outside a [group]", name, n, f[0])
			}
			l[group] = append(l[group], Pkg{f[0], f[1], f[2]})
		}
	}
	return l, s.Err()
}

// Write writes the lock with sorted groups and packages.
func (l Lock) Write(w io.Writer) error {
	groups := make([]string, 0, len(l))
	for g := range l {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "# Exact Debian packages each image part is built from. Written by `make lock`;")
	fmt.Fprintln(bw, "# `make image` downloads these versions and no others.")
	for _, g := range groups {
		fmt.Fprintf(bw, "\n[%s]\n", g)
		ps := append([]Pkg(nil), l[g]...)
		sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
		for _, p := range ps {
			fmt.Fprintf(bw, "%s %s %s\n", p.Name, p.Version, p.Arch)
		}
	}
	return bw.Flush()
}

var instLine = regexp.MustCompile(`^Inst (\S+) \((\S+) .*\[(\S+)\]\)`)

// ParseSimulation reads `apt-get -s install` output into packages.
func ParseSimulation(out string) []Pkg {
	var ps []Pkg
	for _, line := range strings.Split(out, "\n") {
		if m := instLine.FindStringSubmatch(line); m != nil {
			ps = append(ps, Pkg{m[1], m[2], m[3]})
		}
	}
	return ps
}

// Extract unpacks each .deb into dst (dpkg-deb -x: no maintainer script
// runs, no chroot).
func Extract(debs []string, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, d := range debs {
		if out, err := exec.Command("dpkg-deb", "-x", d, dst).CombinedOutput(); err != nil {
			return fmt.Errorf("dpkg-deb -x %s: %w: %s", d, err, out)
		}
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// mergedUsr gives an extracted package tree the merged-/usr aliases
// (/bin, /sbin, /lib, /lib64 pointing into /usr) where it has no such
// directory of its own, as usrmerge or base-files would on a system.
func mergedUsr(dir string) error {
	for _, d := range []string{"bin", "sbin", "lib", "lib64"} {
		if _, err := os.Lstat(filepath.Join(dir, d)); err == nil {
			continue
		}
		if err := os.Symlink("usr/"+d, filepath.Join(dir, d)); err != nil {
			return fmt.Errorf("merged /usr: %w", err)
		}
	}
	return nil
}
