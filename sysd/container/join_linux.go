package container

import (
	"fmt"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/reaper"
)

// Exec runs args inside the running container whose first process is pid:
// its namespaces, root, cgroup, user and capability set (like `docker
// exec`; sysd uses it for HealthCmd=).
func Exec(r *reaper.Reaper, pid int, s Spec, args []string, cg *os.File, stdio Stdio) (*Process, error) {
	type result struct {
		p   *Process
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// setns changes only this thread. It is never unlocked, so Go
		// ends the thread with the goroutine instead of reusing a thread
		// that sits in a container's namespaces.
		runtime.LockOSThread()
		p, err := joinAndSpawn(r, pid, s, args, cg, stdio)
		ch <- result{p, err}
	}()
	res := <-ch
	return res.p, res.err
}

func joinAndSpawn(r *reaper.Reaper, pid int, s Spec, args []string, cg *os.File, stdio Stdio) (*Process, error) {
	root, err := os.OpenFile(fmt.Sprintf("/proc/%d/root", pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("exec in %s: open its root: %w", s.Name, err)
	}
	defer root.Close()
	// The cgroup namespace is joined by the child, once it is in the
	// service's cgroup: with nsdelegate, cloning into a cgroup outside
	// one's own cgroup namespace (sysd's, from the container's) is ENOENT.
	cgns, err := os.Open(fmt.Sprintf("/proc/%d/ns/cgroup", pid))
	if err != nil {
		return nil, fmt.Errorf("exec in %s: %w", s.Name, err)
	}
	defer cgns.Close()
	mntns, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if err != nil {
		return nil, fmt.Errorf("exec in %s: %w", s.Name, err)
	}
	defer mntns.Close()
	nss := []string{"ipc"}
	if !s.UTSHost {
		nss = append(nss, "uts")
	}
	if s.Network != "host" {
		nss = append(nss, "net")
	}
	if !s.PIDHost {
		nss = append(nss, "pid") // takes effect for the child
	}
	for _, ns := range nss {
		p := fmt.Sprintf("/proc/%d/ns/%s", pid, ns)
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("exec in %s: open %s: %w", s.Name, p, err)
		}
		err = unix.Setns(fd, 0)
		unix.Close(fd)
		if err != nil {
			return nil, fmt.Errorf("exec in %s: setns %s: %w", s.Name, p, err)
		}
	}
	j := s
	j.Args, j.Join, j.TTY, j.NotifySocket = args, true, false, ""
	return spawn(r, j, cg, stdio, &syscall.SysProcAttr{}, []*os.File{root, cgns, mntns})
}
