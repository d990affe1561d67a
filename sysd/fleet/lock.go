package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Holder is a machine that holds a reboot slot.
type Holder struct {
	ID    string    `json:"id"` // the machine ID
	Group string    `json:"group"`
	Since time.Time `json:"since"`
}

// Locks is the fleet's reboot slots as the store keeps them.
type Locks struct {
	Holders []Holder `json:"holders,omitempty"`
}

func (l Locks) holder(id, group string) int {
	return slices.IndexFunc(l.Holders, func(h Holder) bool { return h.ID == id && h.Group == group })
}

func (l Locks) inGroup(group string) int {
	n := 0
	for _, h := range l.Holders {
		if h.Group == group {
			n++
		}
	}
	return n
}

// Store keeps Locks with a version: Save succeeds only when the version
// it is given is still the stored one (two managers cannot both grant
// the last slot), and otherwise returns an error wrapping ErrConflict.
type Store interface {
	Load(ctx context.Context) (Locks, uint64, error)
	Save(ctx context.Context, l Locks, version uint64) error
}

// ErrConflict is a Save that lost to another writer.
var ErrConflict = errors.New("the locks changed under this update")

// BusyError is a reboot slot refused because others hold them all.
type BusyError struct {
	Max     int
	Holders []Holder
}

func (e *BusyError) Error() string {
	var ids []string
	for _, h := range e.Holders {
		ids = append(ids, fmt.Sprintf("%s (since %s)", h.ID, h.Since.UTC().Format(time.RFC3339)))
	}
	return fmt.Sprintf("all %d reboot slots are taken: %s", e.Max, strings.Join(ids, ", "))
}

// Lock is the FleetLock semaphore: per group, at most Max holders.
type Lock struct {
	Store Store
	Max   int // at least 1
	Now   func() time.Time
}

// maxTries bounds the retries of an update that keeps losing to others.
const maxTries = 50

// update applies f to the stored locks until it is saved without a
// conflict; f returns false when there is nothing to save.
func (l *Lock) update(ctx context.Context, f func(*Locks) (bool, error)) error {
	for try := 0; try < maxTries; try++ {
		cur, ver, err := l.Store.Load(ctx)
		if err != nil {
			return fmt.Errorf("read the reboot slots: %w", err)
		}
		save, err := f(&cur)
		if err != nil || !save {
			return err
		}
		err = l.Store.Save(ctx, cur, ver)
		if errors.Is(err, ErrConflict) {
			if err := ctx.Err(); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("record the reboot slots: %w", err)
		}
		return nil
	}
	return fmt.Errorf("record the reboot slots: %w %d times", ErrConflict, maxTries)
}

// PreReboot gives id a reboot slot in group, or a *BusyError. Asking
// again while holding one is granted again (the protocol's retries).
func (l *Lock) PreReboot(ctx context.Context, id, group string) error {
	return l.update(ctx, func(cur *Locks) (bool, error) {
		if cur.holder(id, group) >= 0 {
			return false, nil
		}
		if max := max(l.Max, 1); cur.inGroup(group) >= max {
			var hs []Holder
			for _, h := range cur.Holders {
				if h.Group == group {
					hs = append(hs, h)
				}
			}
			return false, &BusyError{Max: max, Holders: hs}
		}
		cur.Holders = append(cur.Holders, Holder{ID: id, Group: group, Since: l.now()})
		return true, nil
	})
}

// SteadyState frees id's slot in group; it reports whether it held one.
// A machine holding nothing is told so without error (it reports steady
// state at every boot).
func (l *Lock) SteadyState(ctx context.Context, id, group string) (bool, error) {
	held := false
	err := l.update(ctx, func(cur *Locks) (bool, error) {
		i := cur.holder(id, group)
		if held = i >= 0; !held {
			return false, nil
		}
		cur.Holders = slices.Delete(cur.Holders, i, i+1)
		return true, nil
	})
	return held, err
}

// Unlock frees every slot id holds, on the admin's word.
func (l *Lock) Unlock(ctx context.Context, id string) (bool, error) {
	held := false
	err := l.update(ctx, func(cur *Locks) (bool, error) {
		n := len(cur.Holders)
		cur.Holders = slices.DeleteFunc(cur.Holders, func(h Holder) bool { return h.ID == id })
		held = len(cur.Holders) < n
		return held, nil
	})
	return held, err
}

func (l *Lock) now() time.Time {
	if l.Now != nil {
		return l.Now().UTC()
	}
	return time.Now().UTC()
}
