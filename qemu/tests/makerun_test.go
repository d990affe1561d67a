package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/internal/copyfile"
	"berth.dev/berth/qemu"
	"berth.dev/berth/qemu/vmtest"
)

// The README's first command as a new user meets it: `make run` typed in a
// terminal of a fresh copy of this tree builds the image, boots it and
// prints how to log in; that ssh command, typed as printed, logs in with
// the key make run chose; `make ssh` does too; Ctrl-A X quits, and make
// ends well. A second `make run` would build nothing: nothing changed.
func TestMakeRunAsTheREADMESays(t *testing.T) {
	t.Parallel()
	b := vmtest.FindBuild(t)
	for _, tool := range []string{"tmux", "ssh", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (make deps installs it)", tool)
		}
	}
	if !strings.Contains(readme(t, b), "make run") {
		t.Fatal("README.md does not tell to run `make run`")
	}
	tree := cleanCopy(t, filepath.Dir(b.Dir))
	// The Debian packages are downloads, not build output: share them.
	if err := os.MkdirAll(filepath.Join(tree, "build"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(b.Dir, "cache"), filepath.Join(tree, "build", "cache")); err != nil {
		t.Fatal(err)
	}
	term := newTmux(t, tree)
	term.typeLine(0, "make run")
	// The build, then the boot: the hint comes once sshd is up.
	hint := regexp.MustCompile(`berth-vm: ready: log in with: (ssh .*?)\s+\(or: make ssh\)`)
	m := term.waitFor(0, hint, 20*time.Minute)
	sshCmd := m[1]
	t.Logf("make run printed: %s", sshCmd)

	term.newWindow()
	term.typeLine(1, sshCmd)
	term.typeLine(1, "echo logged-in-as-$(id -un)-$((6*7))")
	term.waitFor(1, regexp.MustCompile(`(?m)^logged-in-as-berth-42$`), 2*time.Minute)
	term.typeLine(1, "exit")
	term.waitFor(1, regexp.MustCompile(`Connection to \S+ closed`), time.Minute)

	term.typeLine(1, "make ssh")
	term.typeLine(1, "echo make-ssh-as-$(id -un)-$((6*7)); exit")
	term.waitFor(1, regexp.MustCompile(`(?m)^make-ssh-as-berth-42$`), 2*time.Minute)
	term.waitFor(1, regexp.MustCompile(`Connection to \S+ closed`), time.Minute)

	term.keys(0, "C-a", "x")
	term.waitFor(0, regexp.MustCompile(`QEMU: Terminated`), time.Minute)
	term.typeLine(0, "echo make-run-exit-$?")
	term.waitFor(0, regexp.MustCompile(`(?m)^make-run-exit-0$`), time.Minute)

	// Nothing changed: the next make run boots at once.
	if out, err := runIn(tree, "make", "-n", "image"); err != nil || strings.Contains(out, "berth-image build") {
		t.Errorf("make -n image after a build would build again: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(tree, "rootfs", "files", "etc", "motd"), []byte("changed\n"), 0o644)
	if out, _ := runIn(tree, "make", "-n", "image"); !strings.Contains(out, "berth-image build") {
		t.Errorf("make -n image after a change to rootfs/ would not build:\n%s", out)
	}
}

func readme(t *testing.T, b qemu.Build) string {
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(b.Dir), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// cleanCopy copies the files git knows in root (tracked, and new ones not
// ignored), as they are in the work tree, into a new directory: a fresh
// checkout of this tree, without build/.
func cleanCopy(t *testing.T, root string) string {
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files in %s: %v", root, err)
	}
	dst := filepath.Join(t.TempDir(), "berth")
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, f)
		st, err := os.Lstat(src)
		if err != nil {
			continue // deleted in the work tree
		}
		to := filepath.Join(dst, f)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if st.Mode()&os.ModeSymlink != 0 {
			target, _ := os.Readlink(src)
			if err := os.Symlink(target, to); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := copyfile.Copy(src, to); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// userEnv is the environment of a person's terminal: none of make's or
// the test run's own variables.
func userEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "BERTH_BUILD", "GOFLAGS", "TMUX", "TMUX_PANE":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "TERM=xterm-256color")
}

func runIn(dir string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, userEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// tmux is a terminal a person types into: a tmux server of its own.
type tmux struct {
	t         *testing.T
	sock, dir string
	seen      map[int]int // per window: how much of its history waitFor has passed
	windows   int
}

func newTmux(t *testing.T, dir string) *tmux {
	tm := &tmux{t: t, sock: fmt.Sprintf("berth-test-%d", os.Getpid()), dir: dir, seen: map[int]int{}, windows: 1}
	if out, err := tm.cmd("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "220", "-y", "50", "-c", dir); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for w := 0; w < tm.windows; w++ {
				t.Logf("tmux window %d:\n%s", w, tm.screen(w))
			}
		}
		tm.cmd("kill-server")
	})
	return tm
}

func (tm *tmux) cmd(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-L", tm.sock}, args...)...)
	cmd.Env = userEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (tm *tmux) newWindow() {
	if out, err := tm.cmd("new-window", "-t", "t", "-c", tm.dir); err != nil {
		tm.t.Fatalf("tmux new-window: %v\n%s", err, out)
	}
	tm.windows++
}

func (tm *tmux) keys(w int, keys ...string) {
	if out, err := tm.cmd(append([]string{"send-keys", "-t", fmt.Sprintf("t:%d", w)}, keys...)...); err != nil {
		tm.t.Fatalf("tmux send-keys: %v\n%s", err, out)
	}
}

func (tm *tmux) typeLine(w int, line string) { tm.keys(w, "-l", line); tm.keys(w, "Enter") }

// screen is the window's whole history, wrapped lines joined.
func (tm *tmux) screen(w int) string {
	out, _ := tm.cmd("capture-pane", "-p", "-J", "-S", "-", "-t", fmt.Sprintf("t:%d", w))
	return out
}

// waitFor waits until re matches in what window w showed after the last
// match there.
func (tm *tmux) waitFor(w int, re *regexp.Regexp, timeout time.Duration) []string {
	tm.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := tm.screen(w)
		from := min(tm.seen[w], len(s))
		if loc := re.FindStringSubmatchIndex(s[from:]); loc != nil {
			m := re.FindStringSubmatch(s[from:])
			tm.seen[w] = from + loc[1]
			return m
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("tmux window %d: nothing matched /%s/ within %v; the window shows:\n%s", w, re, timeout, lastLines(s, 40))
		}
		time.Sleep(time.Second)
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
