package image

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// noDeps marks a package list whose packages are taken alone: the kernel
// package's dependencies (initramfs-tools, kmod…) are not part of Berth.
const noDeps = "#!nodeps"

// MakeLock resolves every rootfs/packages/GROUP.list against the sources
// in rootfs/apt (fresh lists first) and writes rootfs/packages.lock.
//
// With keep, every package the old lock pins keeps its version, and only
// the packages it lacks are resolved, against the lists as they are:
// adding a package to a list then changes the image by that package (and
// what it depends on), not by every update Debian published since.
func MakeLock(rootfs string, a Apt, keep bool) (Lock, error) {
	var old Lock
	if keep {
		var err error
		if old, err = ReadLock(filepath.Join(rootfs, "packages.lock")); err != nil {
			return nil, err
		}
	} else if err := a.Update(); err != nil {
		return nil, err
	}
	lists, err := filepath.Glob(filepath.Join(rootfs, "packages", "*.list"))
	if err != nil || len(lists) == 0 {
		return nil, fmt.Errorf("no package lists in %s/packages", rootfs)
	}
	l := Lock{}
	for _, list := range lists {
		raw, err := os.ReadFile(list)
		if err != nil {
			return nil, err
		}
		names := moduleNames(string(raw)) // same syntax: a name a line, # comments
		pkgs, err := a.Resolve(names)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", list, err)
		}
		if strings.HasPrefix(string(raw), noDeps) {
			pkgs = only(pkgs, names)
		}
		group := strings.TrimSuffix(filepath.Base(list), ".list")
		l[group] = pinned(pkgs, old[group])
	}
	var b bytes.Buffer
	if err := l.Write(&b); err != nil {
		return nil, err
	}
	return l, os.WriteFile(filepath.Join(rootfs, "packages.lock"), b.Bytes(), 0o644)
}

// pinned gives each package the version old pins, where it pins one.
func pinned(pkgs, old []Pkg) []Pkg {
	pin := map[string]Pkg{}
	for _, p := range old {
		pin[p.Name] = p
	}
	for i, p := range pkgs {
		if o, ok := pin[p.Name]; ok {
			pkgs[i] = o
		}
	}
	return pkgs
}

func only(pkgs []Pkg, names []string) []Pkg {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []Pkg
	for _, p := range pkgs {
		if want[p.Name] {
			out = append(out, p)
		}
	}
	return out
}
