package kmod

import (
	"errors"
	"fmt"
	"strings"
)

// modprobeReq is what a modprobe command line asks for.
type modprobeReq struct {
	names  []string
	params string
	quiet  bool
}

// parseModprobeArgs understands the subset of modprobe(8) that the kernel
// (modprobe -q -- NAME), Docker and iptables use. Removal is refused: PID 1
// never unloads modules.
func parseModprobeArgs(args []string) (modprobeReq, error) {
	var r modprobeReq
	all := false
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") {
			break
		}
		// Short options may come together: Docker runs "modprobe -va".
		if !strings.HasPrefix(a, "--") && len(a) > 2 {
			split := []string{}
			for _, c := range a[1:] {
				split = append(split, "-"+string(c))
			}
			args = append(append(append([]string{}, args[:i]...), split...), args[i+1:]...)
			a = args[i]
		}
		switch a {
		case "-q", "--quiet":
			r.quiet = true
		case "-a", "--all":
			all = true
		case "-b", "--use-blacklist", "-s", "--syslog", "-v", "--verbose":
		default:
			return r, fmt.Errorf("modprobe: option %s is not supported (this modprobe only loads modules)", a)
		}
	}
	rest := args[i:]
	if len(rest) == 0 {
		return r, errors.New("modprobe: no module name given")
	}
	if all {
		r.names = rest
		return r, nil
	}
	r.names = rest[:1]
	r.params = strings.Join(rest[1:], " ")
	return r, nil
}
