package layout

import (
	"strings"
	"testing"
)

func TestCmdlineTakesTheReleasesArgs(t *testing.T) {
	got := Cmdline("B", []string{"console=ttyS1", "quiet"}, nil)
	if got != "console=ttyS1 quiet berth.slot=B" {
		t.Errorf("Cmdline = %q", got)
	}
}

func TestCheckKernelArgs(t *testing.T) {
	if err := CheckKernelArgs(KernelArgs); err != nil {
		t.Errorf("this tree's own arguments: %v", err)
	}
	if err := CheckKernelArgs(nil); err != nil {
		t.Errorf("none: %v", err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"quiet", ""}, "kernel_args[1]: empty"},
		{[]string{"a b"}, `kernel_args[0] "a b": ' '`},
		{[]string{"x\ny"}, `kernel_args[0] "x\ny": '\n'`},
		{[]string{`init="/bin/sh"`}, `'"'`},
		{[]string{"berth.slot=B"}, "berth.slot is the boot entry's own"},
		{[]string{"quiet", "berth.verity=1:2:3"}, "kernel_args[1] \"berth.verity=1:2:3\": berth.verity is the boot entry's own"},
		{[]string{"berth.live=BERTH"}, "berth.live is the boot entry's own"},
		{[]string{strings.Repeat("x", 1800)}, "kernel_args: 1801 bytes, more than the 1791"},
	} {
		err := CheckKernelArgs(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckKernelArgs(%q) = %v, want it to say %q", c.args, err, c.want)
		}
	}
}
