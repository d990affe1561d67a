package osrelease

import (
	"strings"
	"testing"
)

// os-release comes with each image, including one being updated to.
func FuzzParse(f *testing.F) {
	f.Add("NAME=\"Berth\"\nVERSION_ID=0.1.0\n# x\nBAD LINE\n")
	f.Fuzz(func(t *testing.T, s string) { Parse(strings.NewReader(s)) })
}
