package pid1

import (
	"os"
	"os/exec"
	"syscall"
	"time"

	"berth.dev/berth/internal/layout"
	"berth.dev/berth/internal/reaper"
)

// superviseSysd keeps sysd running: it restarts it with backoff whenever it
// exits, and stops it (SIGTERM, then SIGKILL) when shutdown begins.
func (p *pid1) superviseSysd() {
	defer close(p.sysdDone)
	b := Backoff{Min: time.Second, Max: 30 * time.Second, Reset: time.Minute}
	for {
		cmd := exec.Command(layout.SysdPath)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}
		// Its own session: a signal meant for PID 1's group never reaches it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		started := time.Now()
		pid, exited, err := p.reaper.Start(cmd)
		if err != nil {
			p.log.Printf("sysd: %v", err)
		} else {
			select {
			case e := <-exited:
				// A SysRq kill leaves the console at "debug": quiet it
				// before anything more is printed there.
				if changed, err := p.console.restore(); err != nil {
					p.log.Print(err)
				} else if changed {
					p.log.Printf("console log level %d restored", p.console.level)
				}
				p.log.Printf("sysd: %v", e)
			case <-p.sysdStop:
				p.stopSysd(pid, exited)
				return
			}
		}
		wait := b.Next(time.Since(started))
		p.log.Printf("sysd: restarting in %v", wait)
		select {
		case <-time.After(wait):
		case <-p.sysdStop:
			return
		}
	}
}

func (p *pid1) stopSysd(pid int, exited <-chan reaper.Exit) {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case e := <-exited:
		p.log.Printf("sysd stopped: %v", e)
	case <-time.After(sysdStopTimeout):
		p.log.Printf("sysd did not stop within %v: killing it", sysdStopTimeout)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-exited
	}
}
