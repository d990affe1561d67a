// Package startbench measures how long a system container takes to start
// (the runtime's start → the service's program executed) with sysd's
// runtime and with `runc run -d` of the same image and configuration, in
// the same run, alternating so that both see the same machine load. It runs
// inside a Berth VM (berth-bench puts it there).
package startbench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"berth.dev/berth/internal/reaper"
	"berth.dev/berth/sysd/cgroup"
	"berth.dev/berth/sysd/container"
)

// Main runs the benchmark and prints one line a runtime; it returns the
// exit status.
func Main(args []string, out io.Writer) int {
	fs := flag.NewFlagSet("berth-ctbench", flag.ContinueOnError)
	n := fs.Int("n", 100, "starts of each kind")
	rootfs := fs.String("rootfs", "/rootfs", "the image both runtimes run")
	runc := fs.String("runc", "/usr/sbin/runc", "runc binary")
	helper := fs.String("helper", "", "binary to re-execute as the container's first process (default: this one)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := run(*n, *rootfs, *runc, *helper, out); err != nil {
		fmt.Fprintln(os.Stderr, "berth-ctbench:", err)
		return 1
	}
	return 0
}

func run(n int, rootfs, runc, helper string, out io.Writer) error {
	cg, err := leafCgroup()
	if err != nil {
		return err
	}
	r := reaper.New()
	go r.Run(context.Background())
	tmp, err := os.MkdirTemp("", "ctbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	spec := container.Spec{Name: "bench", Hostname: "bench", Root: rootfs, Staging: filepath.Join(tmp, "staging"),
		Args: []string{"/bin/sleep", "1000"}, Caps: container.DefaultCaps, Network: "private", Helper: helper}
	os.Mkdir(spec.Staging, 0o700)
	bundle := filepath.Join(tmp, "bundle")
	os.Mkdir(bundle, 0o755)
	oci := container.OCI(spec, rootfs, 0, 0)
	// Both sides filter system calls with the same profile.
	if oci.Linux.Seccomp, err = container.SeccompProfile(spec.Caps); err != nil {
		return err
	}
	cfg, _ := json.Marshal(oci)
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), cfg, 0o644); err != nil {
		return err
	}

	var ours, theirs []time.Duration
	for i := 0; i < n; i++ {
		// As sysd does: a fresh cgroup for every start, timed too, as
		// runc's is.
		t0 := time.Now()
		g, err := cgroup.Tree{Dir: cg}.Create("bench", cgroup.Limits{})
		if err != nil {
			return err
		}
		cgf, err := g.Open()
		if err != nil {
			return err
		}
		p, err := container.Start(r, spec, cgf, container.Stdio{nil, os.Stderr, os.Stderr})
		cgf.Close()
		d := time.Since(t0)
		if err != nil {
			if p != nil {
				e := <-p.Exit
				return fmt.Errorf("berth start %d: %w (%v)", i, err, e)
			}
			return fmt.Errorf("berth start %d: %w", i, err)
		}
		ours = append(ours, d)
		if err := g.KillWait(5 * time.Second); err != nil {
			return err
		}
		<-p.Exit

		id := fmt.Sprintf("bench%d", i)
		// No pipes: the detached container would inherit them and keep
		// them open; runc's errors go to its log file.
		logf := filepath.Join(tmp, "runc.log")
		t0 = time.Now()
		if err := runTool(r, exec.Command(runc, "--log", logf, "run", "-d", "--bundle", bundle, id)); err != nil {
			b, _ := os.ReadFile(logf)
			return fmt.Errorf("runc run -d %d: %v: %s", i, err, b)
		}
		theirs = append(theirs, time.Since(t0))
		if err := runTool(r, exec.Command(runc, "--log", logf, "delete", "-f", id)); err != nil {
			b, _ := os.ReadFile(logf)
			return fmt.Errorf("runc delete %s: %v: %s", id, err, b)
		}
	}
	a, b := median(ours), median(theirs)
	fmt.Fprintf(out, "berth container start: median %.1f ms (min %.1f, max %.1f) over %d\n", ms(a), ms(slices.Min(ours)), ms(slices.Max(ours)), n)
	fmt.Fprintf(out, "runc run -d:           median %.1f ms (min %.1f, max %.1f) over %d\n", ms(b), ms(slices.Min(theirs)), ms(slices.Max(theirs)), n)
	fmt.Fprintf(out, "runc / berth:          %.1fx\n", float64(b)/float64(a))
	return nil
}

// leafCgroup moves this process into a leaf of its own cgroup, so that
// runc may enable controllers below (cgroup v2 allows no process in a
// cgroup whose children have controllers), and returns a sibling leaf for
// sysd's runtime to start containers in.
func leafCgroup() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	var rel string
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			rel = p
		}
	}
	base := filepath.Join("/sys/fs/cgroup", rel)
	self := filepath.Join(base, "ctbench")
	berth := filepath.Join(base, "berth-containers")
	for _, d := range []string{self, berth} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("create cgroup %s: %w", d, err)
		}
	}
	if err := os.WriteFile(filepath.Join(self, "cgroup.procs"), []byte(fmt.Sprint(os.Getpid())), 0); err != nil {
		return "", fmt.Errorf("move into %s: %w", self, err)
	}
	ctl, _ := os.ReadFile(filepath.Join(base, "cgroup.controllers"))
	var enable []string
	for _, c := range strings.Fields(string(ctl)) {
		enable = append(enable, "+"+c)
	}
	os.WriteFile(filepath.Join(base, "cgroup.subtree_control"), []byte(strings.Join(enable, " ")), 0)
	return berth, nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// runTool runs cmd through the reaper, which reaps every child here: an
// exec.Cmd's own wait would race it and fail with ECHILD now and then.
func runTool(r *reaper.Reaper, cmd *exec.Cmd) error {
	_, exit, err := r.Start(cmd)
	if err != nil {
		return err
	}
	if e := <-exit; !e.Status.Exited() || e.Status.ExitStatus() != 0 {
		return fmt.Errorf("%s: %v", cmd.Args[0], e)
	}
	return nil
}
