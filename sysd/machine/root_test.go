package machine

import (
	"errors"
	"strings"
	"testing"

	"berth.dev/berth/internal/cmdline"
	"berth.dev/berth/internal/layout"
)

func TestRootCheck(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	verity := cmdline.Parse("berth.slot=A berth.verity=10:" + hash + ":00")
	for _, tc := range []struct {
		name          string
		p             cmdline.Params
		st            string
		err           error
		line, problem string
	}{
		{"verified", verity, "V", nil, "verified by dm-verity, root hash " + hash, ""},
		{"corrupt", verity, "C", nil, "CORRUPTED BLOCKS FOUND", "do not match the root hash"},
		{"no word", cmdline.Parse("berth.slot=A"), "", nil, "NOT verified", ""},
		{"bad word", cmdline.Parse("berth.verity=1:x:"), "", nil, "unknown", "root: kernel command line: berth.verity"},
		{"no device", verity, "", errors.New("no such device"), "unknown", "no such device"},
		{"odd status", verity, "X", nil, "unknown", `"X" is not V or C`},
	} {
		line, problem := RootCheck(tc.p, func(name string) (string, error) {
			if name != layout.VerityDevice {
				t.Fatalf("asked for %q", name)
			}
			return tc.st, tc.err
		})
		if !strings.Contains(line, tc.line) || (tc.problem == "") != (problem == "") || !strings.Contains(problem, tc.problem) {
			t.Errorf("%s: %q, %q", tc.name, line, problem)
		}
	}
}
