package kmod

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/lowprio"
)

// LoadAll loads every module of names with its dependencies, in parallel,
// except that the names listed before a "-" entry (soft dependencies such as
// crc32c_generic, which Tree.Load does not follow) are loaded first. It
// returns one error per module that failed, naming the module.
func LoadAll(names []string) []error { return LoadAllNice(names, 0) }

// LoadAllNice is LoadAll with the loading threads at the given nice value,
// so that loads in the background yield the CPU to the boot's critical
// path (module loading is CPU work: relocation and signature checks).
func LoadAllNice(names []string, nice int) []error {
	t, err := readLoadIndexes(ModulesDir())
	if err != nil {
		return []error{fmt.Errorf("load modules: %w", err)}
	}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range names {
		if n == "-" {
			wg.Wait() // the barrier: everything above first
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if nice != 0 {
				_ = lowprio.Thread(nice)
			}
			if err := t.Load(n, ""); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("load module %s: %w", n, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}

// ModulesDir is the running kernel's module tree, /lib/modules/RELEASE.
func ModulesDir() string {
	var u unix.Utsname
	_ = unix.Uname(&u)
	return filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:]))
}

// ReadAliases reads dir/modules.alias; the error names the file.
func ReadAliases(dir string) (Aliases, error) {
	name := filepath.Join(dir, "modules.alias")
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := ParseAliases(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return a, nil
}

// Modprobe is the /sbin/modprobe the kernel runs for on-demand loads.
func Modprobe(args []string, stderr io.Writer) int {
	req, err := parseModprobeArgs(args)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	t, err := ReadTree(ModulesDir())
	if err != nil {
		fmt.Fprintf(stderr, "modprobe: %v\n", err)
		return 1
	}
	rc := 0
	for _, n := range req.names {
		var last error
		ok := false
		for _, m := range t.Resolve(n) {
			if err := t.Load(m, req.params); err != nil {
				last = err
				continue
			}
			ok = true
		}
		if !ok {
			rc = 1
			if !req.quiet {
				fmt.Fprintf(stderr, "modprobe: load %s: %v\n", n, last)
			}
		}
	}
	return rc
}

// Load loads module with params, after every module it needs; a module
// already loaded (in /sys/module) or built in is left as it is.
func (t *Tree) Load(module, params string) error {
	file, deps, ok := t.Module(module)
	if !ok {
		if t.Builtin(module) {
			return nil
		}
		return &ErrNoModule{Name: module, Dir: t.Dir}
	}
	// depmod lists every module needed, however deep: loading them in
	// reverse order loads each after what it needs.
	for i := len(deps) - 1; i >= 0; i-- {
		if err := t.insert(deps[i], ""); err != nil {
			return fmt.Errorf("%s, needed by %s: %w", ModuleName(deps[i]), ModuleName(module), err)
		}
	}
	return t.insert(file, params)
}

// insert loads one module file, unless a module of its name is live. One
// that another load is still initializing ("coming") is loaded again: the
// kernel then waits for that load and answers EEXIST once it is live.
func (t *Tree) insert(file, params string) error {
	if b, err := os.ReadFile(filepath.Join("/sys/module", ModuleName(file), "initstate")); err == nil && strings.TrimSpace(string(b)) == "live" {
		return nil
	}
	f, err := os.Open(filepath.Join(t.Dir, file))
	if err != nil {
		return err
	}
	defer f.Close()
	// The root image keeps Debian's xz-compressed modules as they are
	// (12% smaller than plain modules in the image's zstd), and the
	// kernel decompresses them as it loads them: no decompressor in Go
	// runs under emulation, and nothing is decompressed twice.
	var flags int
	if compressed(file) {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	// Another load of the same module may have won the race.
	if err := unix.FinitModule(int(f.Fd()), params, flags); err != nil && !errors.Is(err, unix.EEXIST) {
		switch {
		case flags != 0 && errors.Is(err, unix.EOPNOTSUPP):
			return fmt.Errorf("load %s: this kernel does not decompress modules (CONFIG_MODULE_DECOMPRESS): %w", file, err)
		case flags != 0 && errors.Is(err, unix.EINVAL):
			// Also what a module's init may answer, so only a hint.
			return fmt.Errorf("load %s: %w (a kernel decompresses one format only: is this file in it?)", file, err)
		}
		return fmt.Errorf("load %s: %w", file, err)
	}
	return nil
}
