package osrelease

import (
	"strings"
	"testing"
)

func TestRenderParse(t *testing.T) {
	m := Parse(strings.NewReader(Render("1.2.3") + "# comment\nX='y z'\n"))
	if m["ID"] != "berth" || m["VERSION_ID"] != "1.2.3" || m["PRETTY_NAME"] != "Berth 1.2.3" || m["X"] != "y z" {
		t.Fatalf("got %v", m)
	}
}
