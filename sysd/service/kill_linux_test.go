package service

import "golang.org/x/sys/unix"

func unixKill(pid int) error { return unix.Kill(pid, unix.SIGKILL) }
