package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Limits are the unit's resource settings; zero means unset.
type Limits struct {
	MemoryMax int64 // bytes; -1 is infinity
	CPUWeight int64
	IOWeight  int64
	TasksMax  int64
}

// Tree is the subtree services live in, e.g. /sys/fs/cgroup/berth.
type Tree struct{ Dir string }

// Init creates the subtree and enables every controller it is given, so
// that each service's limits can be written. It returns the controllers
// that are missing (a cgroup v1 host has none in v2).
func (t Tree) Init() (missing []string, err error) {
	if err := os.MkdirAll(t.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", t.Dir, err)
	}
	parent := filepath.Dir(t.Dir)
	have, _ := os.ReadFile(filepath.Join(parent, "cgroup.controllers"))
	avail := strings.Fields(string(have))
	var enable []string
	for _, c := range []string{"cpu", "io", "memory", "pids"} {
		if slices.Contains(avail, c) {
			enable = append(enable, "+"+c)
		} else {
			missing = append(missing, c)
		}
	}
	for _, dir := range []string{parent, t.Dir} {
		if len(enable) == 0 {
			break
		}
		f := filepath.Join(dir, "cgroup.subtree_control")
		if err := os.WriteFile(f, []byte(strings.Join(enable, " ")), 0); err != nil {
			return missing, fmt.Errorf("enable controllers %v in %s: %w", enable, f, err)
		}
	}
	return missing, nil
}

// Group is one service's cgroup.
type Group struct{ Dir string }

// Create makes the service's directory afresh (killing what an earlier run
// left there) and writes its limits. A limit whose controller is missing
// is an error naming it.
//
// Afresh, because on Linux 6.1 a process cloned into a cgroup that was
// once killed through cgroup.kill is itself killed at once; a new
// directory carries no such history.
func (t Tree) Create(name string, l Limits) (*Group, error) {
	g := &Group{Dir: filepath.Join(t.Dir, name)}
	if err := g.Remove(5 * time.Second); err != nil {
		return nil, err
	}
	if err := os.Mkdir(g.Dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("create cgroup %s: %w", g.Dir, err)
	}
	set := []struct {
		file string
		v    int64
		unit string
	}{
		{"memory.max", l.MemoryMax, "MemoryMax"},
		{"cpu.weight", l.CPUWeight, "CPUWeight"},
		{"io.weight", l.IOWeight, "IOWeight"},
		{"pids.max", l.TasksMax, "TasksMax"},
	}
	for _, s := range set {
		v := strconv.FormatInt(s.v, 10)
		switch {
		case s.v == 0:
			v = "max"
			if s.file == "cpu.weight" || s.file == "io.weight" {
				continue // the kernel's default weight
			}
		case s.v < 0:
			v = "max"
		}
		f := filepath.Join(g.Dir, s.file)
		if s.file == "io.weight" {
			v = "default " + v
		}
		if _, err := os.Stat(f); err != nil {
			if s.v == 0 {
				continue // resetting a limit the kernel cannot set
			}
			return g, fmt.Errorf("%s=%s: the %s controller is not available in %s: %w", s.unit, v, strings.Split(s.file, ".")[0], t.Dir, err)
		}
		if err := os.WriteFile(f, []byte(v), 0); err != nil {
			return g, fmt.Errorf("%s=%s: write %s: %w", s.unit, v, f, err)
		}
	}
	return g, nil
}

// Open returns the directory for clone(CLONE_INTO_CGROUP).
func (g *Group) Open() (*os.File, error) {
	f, err := os.OpenFile(g.Dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup %s: %w", g.Dir, err)
	}
	return f, nil
}

// Kill ends every process in the group (cgroup.kill, Linux 5.14).
// Equivalent to: echo 1 > DIR/cgroup.kill
func (g *Group) Kill() error {
	f := filepath.Join(g.Dir, "cgroup.kill")
	if err := os.WriteFile(f, []byte("1"), 0); err != nil {
		return fmt.Errorf("kill cgroup %s: %w", g.Dir, err)
	}
	return nil
}

// KillWait kills every process in the group and waits up to d until none
// is left, so that a process started in the group afterwards is not caught
// by a kill still in progress.
func (g *Group) KillWait(d time.Duration) error {
	if g.Empty() {
		return nil
	}
	if err := g.Kill(); err != nil {
		return err
	}
	deadline := time.Now().Add(d)
	for !g.Empty() {
		if time.Now().After(deadline) {
			return fmt.Errorf("kill cgroup %s: processes still there after %v", g.Dir, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// Empty reports whether no process is left in the group.
func (g *Group) Empty() bool {
	b, err := os.ReadFile(filepath.Join(g.Dir, "cgroup.events"))
	if err != nil {
		return true
	}
	return strings.Contains(string(b), "populated 0")
}

// Remove kills what is left and removes the directory, and the groups a
// service made below its own (dockerd makes one per container) first,
// waiting up to d for the processes to be gone.
func (g *Group) Remove(d time.Duration) error {
	if !g.Empty() {
		_ = g.Kill()
	}
	return removeTree(g.Dir, time.Now().Add(d))
}

func removeTree(dir string, deadline time.Time) error {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name()), deadline); err != nil {
				return err
			}
		}
	}
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Usage reads memory.current, cpu.stat, pids.current and memory.events;
// a file the kernel does not have reads as zero.
func (g *Group) Usage() Usage {
	var u Usage
	u.MemoryBytes = readInt(filepath.Join(g.Dir, "memory.current"))
	u.Tasks = readInt(filepath.Join(g.Dir, "pids.current"))
	u.CPUUsec = keyed(filepath.Join(g.Dir, "cpu.stat"), "usage_usec")
	u.OOMKills = keyed(filepath.Join(g.Dir, "memory.events"), "oom_kill")
	return u
}

func readInt(f string) int64 {
	b, err := os.ReadFile(f)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// keyed reads "key value" lines.
func keyed(f, key string) int64 {
	b, err := os.ReadFile(f)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
