package fleet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// memStore is a Store with the swarm's compare-and-swap: a Save with a
// stale version fails.
type memStore struct {
	mu    sync.Mutex
	locks Locks
	ver   uint64
	saves int
}

func (m *memStore) Load(context.Context) (Locks, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Locks{Holders: append([]Holder(nil), m.locks.Holders...)}, m.ver, nil
}

func (m *memStore) Save(_ context.Context, l Locks, ver uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ver != m.ver {
		return fmt.Errorf("swarm update: %w", ErrConflict)
	}
	m.locks, m.ver = l, m.ver+1
	m.saves++
	return nil
}

// Many machines asking several managers at once (each manager its own
// Lock over the one store): exactly Max are granted.
func TestLockConcurrent(t *testing.T) {
	for _, max := range []int{1, 2, 5} {
		st := &memStore{}
		managers := []*Lock{{Store: st, Max: max}, {Store: st, Max: max}, {Store: st, Max: max}}
		var wg sync.WaitGroup
		var mu sync.Mutex
		granted, busy := 0, 0
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := managers[i%len(managers)].PreReboot(context.Background(), fmt.Sprintf("m%02d", i), "default")
				var be *BusyError
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					granted++
				case errors.As(err, &be):
					busy++
				default:
					t.Errorf("machine %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if granted != max || busy != 40-max || len(st.locks.Holders) != max {
			t.Fatalf("max %d: granted %d, busy %d, holders %v", max, granted, busy, st.locks.Holders)
		}
	}
}

func TestLockProtocol(t *testing.T) {
	ctx := context.Background()
	st := &memStore{}
	l := &Lock{Store: st, Max: 1}
	// Steady state from a machine that holds nothing: no error, nothing
	// written.
	if held, err := l.SteadyState(ctx, "a", "default"); err != nil || held || st.saves != 0 {
		t.Fatalf("steady state of a non-holder: %v %v, %d saves", held, err, st.saves)
	}
	if err := l.PreReboot(ctx, "a", "default"); err != nil {
		t.Fatal(err)
	}
	// Repeated: granted again, nothing new written.
	if err := l.PreReboot(ctx, "a", "default"); err != nil || st.saves != 1 {
		t.Fatalf("repeated pre-reboot: %v, %d saves", err, st.saves)
	}
	var be *BusyError
	if err := l.PreReboot(ctx, "b", "default"); !errors.As(err, &be) || be.Holders[0].ID != "a" {
		t.Fatalf("second machine: %v", err)
	}
	// Another group has its own slots.
	if err := l.PreReboot(ctx, "b", "db"); err != nil {
		t.Fatalf("other group: %v", err)
	}
	if held, err := l.SteadyState(ctx, "a", "default"); err != nil || !held {
		t.Fatalf("steady state of the holder: %v %v", held, err)
	}
	if held, err := l.SteadyState(ctx, "a", "default"); err != nil || held {
		t.Fatalf("repeated steady state: %v %v", held, err)
	}
	if err := l.PreReboot(ctx, "c", "default"); err != nil {
		t.Fatalf("after release: %v", err)
	}
	if held, err := l.Unlock(ctx, "c"); err != nil || !held {
		t.Fatalf("unlock: %v %v", held, err)
	}
	if held, err := l.Unlock(ctx, "c"); err != nil || held {
		t.Fatalf("unlock again: %v %v", held, err)
	}
}
