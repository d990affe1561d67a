package layout

import (
	"strings"
	"testing"
)

func TestParseVerity(t *testing.T) {
	root, salt := strings.Repeat("ab", 32), strings.Repeat("01", 32)
	v, err := ParseVerity("36864:" + root + ":" + salt)
	if err != nil || v != (Verity{36864, root, salt}) || v.HashOffset() != 36864*4096 {
		t.Fatalf("%+v %v", v, err)
	}
	if got := Cmdline("B", KernelArgs, &v); !strings.HasSuffix(got, " berth.slot=B berth.verity=36864:"+root+":"+salt) {
		t.Fatalf("cmdline %q", got)
	}
	if got := Cmdline("A", nil, nil); strings.Contains(got, "verity") {
		t.Fatalf("cmdline %q", got)
	}
	for in, want := range map[string]string{
		"36864:" + root:                               "want BLOCKS:ROOTHASH:SALT",
		"x:" + root + ":" + salt:                      "data blocks",
		"0:" + root + ":" + salt:                      "data blocks: 0",
		"1:" + root[:62] + ":" + salt:                 "root hash",
		"1:" + strings.ToUpper(root) + ":":            "root hash",
		"1:" + root + ":0":                            "salt",
		"1:" + root + ":" + strings.Repeat("00", 257): "salt",
		"18446744073709551615:" + root + ":":          "data blocks",
	} {
		if _, err := ParseVerity(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}
