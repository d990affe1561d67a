package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/sysd/api/wire"
)

func TestGate(t *testing.T) {
	svcs := []wire.Service{
		{Name: "console.service", State: "up", HealthGate: true},
		{Name: "docker.service", State: "running", HealthGate: true},
		{Name: "debug-shell.service", State: "skipped", HealthGate: false},
		{Name: "mine.service", State: "failed", HealthGate: false},
	}
	answers := false
	g := HealthGate{Timeout: 300 * time.Millisecond, Poll: 10 * time.Millisecond, Checks: []string{"tcp://127.0.0.1:8080"},
		List: func() []wire.Service { return svcs },
		Probe: func(ctx context.Context, url string) error {
			if answers {
				return nil
			}
			return errors.New("refused")
		}}
	err := g.Wait(context.Background())
	if err == nil || err.Error() != "check tcp://127.0.0.1:8080, docker.service not healthy within 300ms" {
		t.Fatalf("timeout: %v", err)
	}
	svcs[1].State, answers = "up", true
	if err := g.Wait(context.Background()); err != nil {
		t.Fatalf("all up: %v", err)
	}
	// A required service that failed for good fails the gate at once.
	svcs[0] = wire.Service{Name: "broken.service", State: "failed", Reason: "exit status 1", HealthGate: true}
	g.Timeout = time.Hour
	if err := g.Wait(context.Background()); err == nil || !strings.Contains(err.Error(), "broken.service failed: exit status 1") {
		t.Fatalf("failed service: %v", err)
	}
}
