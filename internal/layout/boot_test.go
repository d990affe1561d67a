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
	// The longest root hash word ParseVerity takes.
	big := &Verity{DataBlocks: 1 << 40, RootHash: strings.Repeat("a", 64), Salt: strings.Repeat("b", 512)}
	if err := CheckKernelArgs(KernelArgs, nil); err != nil {
		t.Errorf("this tree's own arguments: %v", err)
	}
	if err := CheckKernelArgs(nil, nil); err != nil {
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
		{[]string{"quiet", "--", "single"}, `kernel_args[1] "--": the kernel would hand`},
		{[]string{strings.Repeat("x", 1800)}, "command line would be 2440 bytes, more than the 1919"},
	} {
		err := CheckKernelArgs(c.args, big)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckKernelArgs(%q) = %v, want it to say %q", c.args, err, c.want)
		}
	}
}

// A salt as long as ParseVerity takes leaves less room: the line is
// measured whole, not estimated.
func TestCheckKernelArgsMeasuresTheWholeLine(t *testing.T) {
	args := []string{strings.Repeat("x", 1400)}
	if err := CheckKernelArgs(args, &Verity{DataBlocks: 1, RootHash: strings.Repeat("a", 64), Salt: "00"}); err != nil {
		t.Errorf("short salt: %v", err)
	}
	if err := CheckKernelArgs(args, &Verity{DataBlocks: 1, RootHash: strings.Repeat("a", 64), Salt: strings.Repeat("b", 512)}); err == nil {
		t.Error("a 512-character salt and 1400 bytes of arguments: accepted")
	}
}
