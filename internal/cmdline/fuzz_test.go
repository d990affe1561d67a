package cmdline

import "testing"

// The kernel command line is outside input (a boot loader's, a user's).
func FuzzParse(f *testing.F) {
	f.Add(`console=ttyS0,115200 berth.slot=A "quoted arg=x y" berth.modules=a,b -- init args`)
	f.Add(`a="unterminated`)
	f.Fuzz(func(t *testing.T, line string) {
		p := Parse(line)
		p.Get("berth.slot")
		p.List("berth.modules")
	})
}
