package kmod

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Tree answers one module request from a module tree's text indexes
// (modules.dep, modules.alias, modules.builtin) by scanning them as read,
// without building a map of the whole tree. The kernel runs /sbin/modprobe
// once per on-demand request, so the lookup is all the work there is:
// u-root's prober parses the tree into maps and matches every loaded module
// against every path, which took 0.3 s a request under emulation (QEMU's
// TCG), and BuildKit makes nine of them at Docker's start (one per foreign
// architecture it checks for an emulator: "binfmt-464c").
type Tree struct {
	Dir                 string
	dep, alias, builtin []byte
}

// ReadTree reads dir's indexes: modules.dep is required, modules.alias and
// modules.builtin may be missing (no aliases, nothing built in).
func ReadTree(dir string) (*Tree, error) {
	t, err := readLoadIndexes(dir)
	if err != nil {
		return nil, err
	}
	if t.alias, err = readOptional(filepath.Join(dir, "modules.alias")); err != nil {
		return nil, err
	}
	return t, nil
}

// readLoadIndexes reads what Load needs, modules.dep and modules.builtin,
// and not modules.alias: a caller that names modules (LoadAll) never
// resolves an alias, and the root's modules.alias is about 0.5 MB to
// read each time.
func readLoadIndexes(dir string) (*Tree, error) {
	t := &Tree{Dir: dir}
	var err error
	if t.dep, err = os.ReadFile(filepath.Join(dir, "modules.dep")); err != nil {
		return nil, err
	}
	if t.builtin, err = readOptional(filepath.Join(dir, "modules.builtin")); err != nil {
		return nil, err
	}
	return t, nil
}

// readOptional reads name; a file that is not there reads as empty.
func readOptional(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	return b, nil
}

// Resolve returns the modules whose alias pattern matches name, in file
// order, without repeats. A name with no alias is returned as itself: it
// is taken to be a module name. A pattern is tried only when its literal
// prefix starts name, as Matcher does for devices.
func (t *Tree) Resolve(name string) []string {
	var out []string
	for rest := t.alias; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		// Most of ten thousand lines are rejected by their pattern's
		// literal prefix, before anything is allocated for them.
		f, ok := bytes.CutPrefix(line, []byte("alias "))
		if !ok {
			continue
		}
		sp := bytes.IndexByte(f, ' ')
		if sp < 0 {
			continue
		}
		pattern := f[:sp]
		lit := pattern // literalPrefix, without a string per line
		if i := bytes.IndexAny(pattern, globMeta); i >= 0 {
			lit = pattern[:i]
		}
		if !strings.HasPrefix(name, string(lit)) {
			continue
		}
		module := string(bytes.TrimSpace(f[sp+1:]))
		if module == "" || slices.Contains(out, module) {
			continue
		}
		if ok, _ := path.Match(string(pattern), name); ok {
			out = append(out, module)
		}
	}
	if len(out) == 0 {
		return []string{name}
	}
	return out
}

// Module returns module's file and the files of every module it needs
// (all of them, as depmod lists them), relative to Dir; ok is false when
// the tree has no such module.
func (t *Tree) Module(module string) (file string, deps []string, ok bool) {
	want := ModuleName(module)
	for rest := t.dep; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		colon := bytes.IndexByte(line, ':')
		if colon < 0 || !sameModule(line[:colon], want) {
			continue
		}
		for _, d := range bytes.Fields(line[colon+1:]) {
			deps = append(deps, string(d))
		}
		return string(line[:colon]), deps, true
	}
	return "", nil, false
}

// Builtin reports whether module is built into the kernel.
func (t *Tree) Builtin(module string) bool {
	want := ModuleName(module)
	for rest := t.builtin; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		if sameModule(bytes.TrimSpace(line), want) {
			return true
		}
	}
	return false
}

// sameModule reports whether the module file is the module named name
// (as ModuleName gives it); a file whose base is not about as long as
// name is rejected without allocating.
func sameModule(file []byte, name string) bool {
	base := file[bytes.LastIndexByte(file, '/')+1:]
	if len(base) < len(name)+3 || len(base) > len(name)+7 {
		return false
	}
	return ModuleName(string(file)) == name
}

// compressedExts are the endings of compressed module files.
var compressedExts = []string{".xz", ".gz", ".zst"}

// compressed reports whether a module file is compressed.
func compressed(file string) bool {
	return slices.ContainsFunc(compressedExts, func(ext string) bool { return strings.HasSuffix(file, ext) })
}

// ModuleName is the kernel's name of a module given by name or by file
// (kernel/fs/xfs/xfs.ko.xz → xfs): dashes and underscores are the same to
// the kernel, which uses underscores.
func ModuleName(s string) string {
	s = path.Base(s)
	for _, ext := range compressedExts {
		s = strings.TrimSuffix(s, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(s, ".ko"), "-", "_")
}

// ErrNoModule is returned for a name that is neither a module of the tree
// nor built in.
type ErrNoModule struct{ Name, Dir string }

func (e *ErrNoModule) Error() string {
	return fmt.Sprintf("no module %s in %s (nor built into the kernel)", e.Name, e.Dir)
}

func nextLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}
