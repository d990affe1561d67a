package update

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"berth.dev/berth/internal/layout"
)

// A note from some earlier failed boot does not explain a later attempt.
func TestTrialNoteSince(t *testing.T) {
	r := Records{Dir: t.TempDir()}
	if n := r.TrialNote(time.Time{}); n != "" {
		t.Fatalf("no note gave %q", n)
	}
	p := filepath.Join(r.Dir, layout.TrialNoteName)
	os.WriteFile(p, []byte("stage 1: slot B: root: input/output error\n"), 0o600)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(p, old, old)
	if n := r.TrialNote(old.Add(-time.Minute)); n != "stage 1: slot B: root: input/output error" {
		t.Fatalf("note %q", n)
	}
	if n := r.TrialNote(old.Add(time.Minute)); n != "" {
		t.Fatalf("a note older than the attempt gave %q", n)
	}
	r.ClearTrialNote()
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("note kept: %v", err)
	}
}
