package layering

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "berth.dev/berth/"

// deps returns, for each package matching the patterns, every package
// it links (go list's transitive Deps, tests excluded).
func deps(t *testing.T, patterns ...string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}"}, patterns...)...)
	cmd.Dir = root(t)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOFLAGS=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", patterns, err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		m[f[0]] = f[1:]
	}
	return m
}

func root(t *testing.T) string {
	wd, _ := os.Getwd()
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	t.Fatal("no go.mod above", wd)
	return ""
}

// never fails for every package of patterns that links one whose path
// starts with a forbidden prefix.
func never(t *testing.T, why string, patterns []string, forbidden ...string) {
	t.Helper()
	for pkg, ds := range deps(t, patterns...) {
		for _, d := range ds {
			for _, f := range forbidden {
				if d == strings.TrimSuffix(f, "/") || strings.HasPrefix(d, f) {
					t.Errorf("%s links %s: %s", pkg, d, why)
				}
			}
		}
	}
}

func TestLayers(t *testing.T) {
	never(t, "the image builder is a build-time tool, never on the machine",
		[]string{"./sysd/...", "./init/..."}, module+"image")
	never(t, "the updater is below sysd: sysd uses it, not the other way",
		[]string{"./update/..."}, module+"sysd/")
	never(t, "PID 1 stands on internal/ alone",
		[]string{"./init/..."}, module+"sysd/", module+"update", module+"image")
	never(t, "internal/ holds primitives that decide nothing",
		[]string{"./internal/..."}, module+"sysd/", module+"update", module+"image", module+"init/", module+"qemu")
	never(t, "os-ctl is an API client: it links the wire types, not the machine's daemons",
		[]string{"./cmd/os-ctl"}, "github.com/vishvananda/netlink", "github.com/insomniacslk/dhcp",
		module+"sysd/service", module+"sysd/container", module+"sysd/network", module+"sysd/supervise")
	never(t, "a command links no test helper",
		[]string{"./cmd/..."}, "testing")
}

func TestSysdRootIsWiring(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root(t), "sysd", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var code []string
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			code = append(code, filepath.Base(f))
		}
	}
	if len(code) > 4 {
		t.Errorf("sysd/ holds %d files %v: Main and at most three more; give the others a package", len(code), code)
	}
}

// No compiled binary is tracked: they are built, not committed.
func TestNoBinaryInGit(t *testing.T) {
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = root(t)
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		b := make([]byte, 4)
		fh, err := os.Open(filepath.Join(cmd.Dir, f))
		if err != nil {
			continue // deleted in the work tree
		}
		n, _ := fh.Read(b)
		fh.Close()
		if n == 4 && bytes.Equal(b, []byte("\x7fELF")) {
			t.Errorf("%s is a compiled binary tracked in git: remove it (git rm --cached) and build it instead", f)
		}
	}
}
