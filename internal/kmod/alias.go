// Package kmod loads kernel modules: the boot list of each stage and the
// kernel's on-demand requests, for which PID 1's binary answers as
// /sbin/modprobe.
package kmod

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Aliases maps the kernel's request names (fs-overlay, net-pf-10,
// nft-chain-2-nat, pci:v…) to module names, as modules.alias lists them.
type Aliases []alias

type alias struct{ pattern, module string }

// ParseAliases reads a modules.alias file ("alias PATTERN MODULE" lines).
func ParseAliases(r io.Reader) (Aliases, error) {
	var out Aliases
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for s.Scan() {
		line++
		f := strings.Fields(s.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if f[0] != "alias" || len(f) != 3 {
			return nil, fmt.Errorf("modules.alias line %d: want \"alias PATTERN MODULE\", got %q", line, s.Text())
		}
		out = append(out, alias{f[1], f[2]})
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read modules.alias: %w", err)
	}
	return out, nil
}
