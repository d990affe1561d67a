package supervise

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"berth.dev/berth/sysd/unit"
)

// fakeClock moves time only when someone waits: After advances Now by d
// and fires at once, so tests are exact and never sleep.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// script is a runner that returns the given results in turn, each after
// running for its duration of fake time.
type script struct {
	clock   *fakeClock
	results []error
	ran     time.Duration
}

func (s *script) Run(ctx context.Context) error {
	s.clock.now = s.clock.now.Add(s.ran)
	if len(s.results) == 0 {
		return errScriptDone
	}
	err := s.results[0]
	s.results = s.results[1:]
	return err
}

func run(t *testing.T, policy unit.RestartPolicy, results []error, ran time.Duration) ([]string, error) {
	t.Helper()
	clock := &fakeClock{now: time.Unix(1000, 0)}
	var events []string
	r := &Restart{
		Runner: &script{clock: clock, results: results, ran: ran},
		Policy: policy, Min: time.Second, Max: 4 * time.Second, Burst: 5, Interval: 30 * time.Second,
		Clock:  clock,
		Record: func(e Event) { events = append(events, e.String()) },
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	return events, r.Run(ctx)
}

var (
	boom          = errors.New("exit status 1")
	errScriptDone = errors.New("the test script ran out: the supervisor should have stopped")
)

func TestCrashLoopEndsFailed(t *testing.T) {
	events, err := run(t, "always", []error{boom, boom, boom, boom, boom, boom}, 0)
	if !errors.Is(err, ErrStartLimit) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		"starting", "exited: exit status 1", "backoff: restarting in 1s",
		"starting", "exited: exit status 1", "backoff: restarting in 2s",
		"starting", "exited: exit status 1", "backoff: restarting in 4s",
		"starting", "exited: exit status 1", "backoff: restarting in 4s",
		"starting", "exited: exit status 1", "backoff: restarting in 4s",
		"failed: 5 starts within 30s: giving up (StartLimitBurst=5, StartLimitIntervalSec=30s)",
	}
	if !reflect.DeepEqual(events, want) {
		t.Fatalf("events:\n%q\nwant\n%q", events, want)
	}
}

func TestSlowCrashesNeverHitTheLimit(t *testing.T) {
	// Each run lasts a minute: never five starts within thirty seconds.
	events, err := run(t, "on-failure", []error{boom, boom, boom, boom, boom, boom, nil}, time.Minute)
	if err != nil {
		t.Fatalf("err = %v (%q)", err, events)
	}
	if last := events[len(events)-1]; last != "finished" {
		t.Fatalf("last event %q", last)
	}
}

func TestPolicyNo(t *testing.T) {
	events, err := run(t, "no", []error{boom}, 0)
	want := []string{"starting", "exited: exit status 1", "failed: Restart=no: not restarted"}
	if !errors.Is(err, boom) || !reflect.DeepEqual(events, want) {
		t.Fatalf("%v %q", err, events)
	}
	events, err = run(t, "on-failure", []error{nil}, 0)
	want = []string{"starting", "exited: status 0", "finished"}
	if err != nil || !reflect.DeepEqual(events, want) {
		t.Fatalf("%v %q", err, events)
	}
}

func TestStopDuringRun(t *testing.T) {
	clock := &fakeClock{now: time.Unix(0, 0)}
	var events []string
	ctx, cancel := context.WithCancel(context.Background())
	r := &Restart{
		Runner: RunnerFunc(func(ctx context.Context) error { cancel(); <-ctx.Done(); return ctx.Err() }),
		Policy: "always", Min: time.Second, Max: time.Second, Clock: clock,
		Record: func(e Event) { events = append(events, e.String()) },
	}
	if err := r.Run(ctx); err != nil || !reflect.DeepEqual(events, []string{"starting", "stopped"}) {
		t.Fatalf("%v %q", err, events)
	}
}
