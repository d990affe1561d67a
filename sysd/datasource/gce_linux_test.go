package datasource

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOnGCE(t *testing.T) {
	for _, c := range []struct {
		vendor, product string
		want            bool
	}{{"Google", "Google Compute Engine", true}, {"QEMU", "Standard PC (Q35 + ICH9, 2009)", false}, {"Amazon EC2", "m5.large", false}} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "sys_vendor"), []byte(c.vendor+"\n"), 0o444)
		os.WriteFile(filepath.Join(dir, "product_name"), []byte(c.product+"\n"), 0o444)
		if got := onGCE(dir); got != c.want {
			t.Errorf("%s / %s: onGCE %v", c.vendor, c.product, got)
		}
	}
	if onGCE(t.TempDir()) {
		t.Error("no DMI: not GCE")
	}
}
