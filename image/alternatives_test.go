package image

import (
	"strings"
	"testing"
)

func TestAlternatives(t *testing.T) {
	alts, err := ParseAlternatives("alt.list", "# awk\n/usr/bin/awk gawk\n\n/usr/bin/pager /bin/less # absolute\n")
	if err != nil || len(alts) != 2 || alts[0] != (Alternative{"/usr/bin/awk", "gawk", 2}) || alts[1].Line != 4 {
		t.Fatalf("parse: %+v, %v", alts, err)
	}
	tree := func() Tree {
		t := Tree{}
		t.File("/usr/bin/gawk", 0o755, nil)
		t.File("/usr/bin/less", 0o755, nil)
		t.Symlink("/bin", "usr/bin")
		return t
	}
	tr := tree()
	if err := addAlternatives("alt.list", "console", alts, tr); err != nil {
		t.Fatal(err)
	}
	if p, ok := tr.Resolve("/usr/bin/awk"); !ok || p != "/usr/bin/gawk" {
		t.Fatalf("awk resolves to %q, %v", p, ok)
	}
	if e := tr["/usr/bin/pager"]; e.Kind != Link || e.Target != "/bin/less" {
		t.Fatalf("pager: %+v", e)
	}
	for _, tc := range []struct{ list, want string }{
		{"/usr/bin/nc nc.openbsd\n", "alt.list:1: /usr/bin/nc → nc.openbsd: /usr/bin/nc.openbsd is not in image console"},
		{"\n/usr/bin/gawk less\n", "alt.list:2: /usr/bin/gawk is already in image console: drop the line"},
	} {
		alts, err := ParseAlternatives("alt.list", tc.list)
		if err != nil {
			t.Fatal(err)
		}
		if err := addAlternatives("alt.list", "console", alts, tree()); err == nil || err.Error() != tc.want {
			t.Errorf("%q: %v, want %q", tc.list, err, tc.want)
		}
	}
	for _, bad := range []string{"/usr/bin/awk\n", "usr/bin/awk gawk\n", "/a b c\n"} {
		if _, err := ParseAlternatives("alt.list", bad); err == nil || !strings.HasPrefix(err.Error(), "alt.list:1: ") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
