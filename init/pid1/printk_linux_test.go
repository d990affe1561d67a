package pid1

import (
	"os"
	"path/filepath"
	"testing"
)

func TestConsoleLevelRestored(t *testing.T) {
	f := filepath.Join(t.TempDir(), "printk")
	os.WriteFile(f, []byte("4\t4\t1\t7\n"), 0o644)
	c, err := readConsoleLevel(f)
	if err != nil || c.level != 4 {
		t.Fatalf("read: %+v, %v", c, err)
	}
	if changed, err := c.restore(); changed || err != nil {
		t.Fatalf("nothing changed: restore = %v, %v", changed, err)
	}
	// What Alt-SysRq-I leaves behind (CONSOLE_LOGLEVEL_DEBUG).
	os.WriteFile(f, []byte("10\t4\t1\t7\n"), 0o644)
	if changed, err := c.restore(); !changed || err != nil {
		t.Fatalf("after SysRq: restore = %v, %v", changed, err)
	}
	if c2, _ := readConsoleLevel(f); c2.level != 4 {
		t.Fatalf("level after restore: %d, want 4", c2.level)
	}
	os.WriteFile(f, []byte("garbage"), 0o644)
	if _, err := c.restore(); err == nil {
		t.Fatal("a file that is no level: no error")
	}
	if _, err := readConsoleLevel(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("a missing file: no error")
	}
}
