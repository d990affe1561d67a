package update

import (
	"os"
	"sort"
	"strings"
	"testing"
)

// Entries is the updater's boot entries, for the external tests that play
// the machine's boot loader.
func (u *Updater) Entries() Entries { return u.entries() }

// Files lists the names in dir, sorted, for tests that assert on a
// directory of entries or records.
func Files(t *testing.T, dir string) string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, de := range des {
		n = append(n, de.Name())
	}
	sort.Strings(n)
	return strings.Join(n, " ")
}
