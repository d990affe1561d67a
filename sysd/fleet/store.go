package fleet

import (
	"context"
	"encoding/json"
	"fmt"
)

// locksLabel is the swarm label that holds the reboot slots: the swarm's
// spec lives in its Raft store, and an update names the version it read,
// which makes every change a compare-and-swap across managers.
const locksLabel = "dev.berth.fleet.locks"

// SwarmStore keeps Locks in the swarm's spec (on a manager).
type SwarmStore struct{ Docker *Docker }

func (s SwarmStore) Load(ctx context.Context) (Locks, uint64, error) {
	sw, err := s.Docker.Swarm(ctx)
	if err != nil {
		return Locks{}, 0, err
	}
	l, err := locksOf(sw)
	return l, sw.Version.Index, err
}

func locksOf(sw Swarm) (Locks, error) {
	var l Locks
	labels, _ := sw.Spec["Labels"].(map[string]any)
	if v, ok := labels[locksLabel].(string); ok && v != "" {
		if err := json.Unmarshal([]byte(v), &l); err != nil {
			return Locks{}, fmt.Errorf("swarm label %s does not parse: %w", locksLabel, err)
		}
	}
	return l, nil
}

func (s SwarmStore) Save(ctx context.Context, l Locks, version uint64) error {
	sw, err := s.Docker.Swarm(ctx)
	if err != nil {
		return err
	}
	if sw.Version.Index != version {
		return fmt.Errorf("swarm version %d, read %d: %w", sw.Version.Index, version, ErrConflict)
	}
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if sw.Spec == nil {
		sw.Spec = map[string]any{}
	}
	labels, _ := sw.Spec["Labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
	}
	labels[locksLabel] = string(b)
	sw.Spec["Labels"] = labels
	if err := s.Docker.SwarmUpdate(ctx, version, sw.Spec); err != nil {
		if isConflict(err) {
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
		return err
	}
	return nil
}
