package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/reaper"
)

// Stdio is what the container's fds 0, 1 and 2 are; nil means /dev/null.
type Stdio [3]*os.File

// Process is a started container.
type Process struct {
	Pid  int
	Exit <-chan reaper.Exit
}

// Start runs s in new namespaces, inside the cgroup open as cg (nil: the
// caller's), and returns once the service's own program has been executed
// (the helper's sync pipe closed on exec) or has failed to be.
func Start(r *reaper.Reaper, s Spec, cg *os.File, stdio Stdio) (*Process, error) {
	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWCGROUP)
	if !s.UTSHost {
		flags |= unix.CLONE_NEWUTS
	}
	if !s.PIDHost {
		flags |= unix.CLONE_NEWPID
	}
	if s.Network != "host" {
		flags |= unix.CLONE_NEWNET
	}
	if cg != nil && !s.Privileged {
		// Before the first process enters the cgroup.
		if err := restrictDevices(cg, AllowedDevices); err != nil {
			return nil, fmt.Errorf("container %s: %w", s.Name, err)
		}
	}
	return spawn(r, s, cg, stdio, &syscall.SysProcAttr{Cloneflags: flags}, nil)
}

// spawn re-executes this binary as InitName with the spec on fd 3 and a
// sync pipe on fd 4 (fd 5 onwards: extra), then waits for the exec.
func spawn(r *reaper.Reaper, s Spec, cg *os.File, stdio Stdio, attr *syscall.SysProcAttr, extra []*os.File) (*Process, error) {
	if len(s.Args) == 0 || s.Args[0] == "" {
		return nil, fmt.Errorf("container %s: no command to run", s.Name)
	}
	cfg, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("container %s: encode spec: %w", s.Name, err)
	}
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", s.Name, err)
	}
	defer cfgR.Close()
	defer cfgW.Close()
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", s.Name, err)
	}
	defer syncR.Close()
	defer syncW.Close()

	attr.Setsid = true
	if s.TTY {
		attr.Setctty, attr.Ctty = true, 0
	}
	if cg != nil {
		attr.UseCgroupFD, attr.CgroupFD = true, int(cg.Fd())
	}
	cmd := &exec.Cmd{
		// The image holding this binary is read-only (EROFS), so the
		// container cannot overwrite it through /proc/PID/exe
		// (CVE-2019-5736); the helper execs the service before any
		// code of the service runs.
		Path:        helper(s.Helper),
		Args:        []string{InitName},
		Env:         []string{},
		ExtraFiles:  append([]*os.File{cfgR, syncW}, extra...),
		SysProcAttr: attr,
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	files := [3]*os.File{}
	for i, f := range stdio {
		files[i] = f
		if f == nil {
			files[i] = devnull
		}
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[1], files[2]

	pid, exit, err := r.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", s.Name, err)
	}
	p := &Process{Pid: pid, Exit: exit}
	cfgR.Close()
	syncW.Close()
	if _, err := cfgW.Write(cfg); err != nil {
		return p, fmt.Errorf("container %s: send spec: %w", s.Name, err)
	}
	cfgW.Close()
	msg, err := io.ReadAll(syncR)
	if err != nil {
		return p, fmt.Errorf("container %s: read start status: %w", s.Name, err)
	}
	if len(msg) > 0 {
		return p, &StartError{Name: s.Name, Msg: string(msg)}
	}
	return p, nil
}

// StartError is the helper's report of why the container did not start.
type StartError struct{ Name, Msg string }

func (e *StartError) Error() string { return fmt.Sprintf("container %s: %s", e.Name, e.Msg) }

// ErrStart matches every StartError with errors.Is.
var ErrStart = errors.New("container did not start")

func (e *StartError) Is(target error) bool { return target == ErrStart }

func helper(p string) string {
	if p == "" {
		return "/proc/self/exe"
	}
	return p
}
