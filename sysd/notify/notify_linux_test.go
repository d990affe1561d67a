package notify

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/coreos/go-systemd/v22/daemon"
)

// go-systemd's client is the real protocol peer: what a service would use.
func TestSocketReceivesSdNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	for _, state := range []string{daemon.SdNotifyReady + "\nSTATUS=serving", daemon.SdNotifyWatchdog, daemon.SdNotifyStopping} {
		if ok, err := daemon.SdNotify(false, state); !ok || err != nil {
			t.Fatalf("SdNotify(%q) = %v, %v", state, ok, err)
		}
	}
	m, err := s.Read()
	if err != nil {
		t.Fatal(err)
	}
	if !m.Ready || m.Status != "serving" || m.Pid != os.Getpid() {
		t.Fatalf("first message %+v (our pid %d)", m, os.Getpid())
	}
	if m, _ := s.Read(); !m.Watchdog || m.Ready {
		t.Fatalf("second message %+v", m)
	}
	if m, _ := s.Read(); !m.Stopping {
		t.Fatalf("third message %+v", m)
	}
}

func TestParse(t *testing.T) {
	m := Parse([]byte("READY=1\nSTATUS=a=b\nMAINPID=42\nX-CUSTOM=1\nnonsense\n"))
	if !m.Ready || m.Status != "a=b" || m.MainPID != 42 || m.Other["X-CUSTOM"] != "1" {
		t.Fatalf("%+v", m)
	}
}
