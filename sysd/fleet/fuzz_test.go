package fleet

import (
	"encoding/json"
	"testing"
)

// The endpoint's request bodies and the locks label come from other
// machines: neither may panic, and what parses must mean one holder.
func FuzzParams(f *testing.F) {
	f.Add([]byte(`{"client_params":{"id":"0123","group":"default"}}`))
	f.Add([]byte(`{"client_params":{"id":""}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, group, err := params(b)
		if err == nil && (id == "" || group == "") {
			t.Fatalf("accepted an empty id or group: %q %q", id, group)
		}
	})
}

func FuzzLocksLabel(f *testing.F) {
	f.Add(`{"holders":[{"id":"a","group":"default","since":"2026-12-03T04:00:00Z"}]}`)
	f.Add(`{"holders":null}`)
	f.Add(`x`)
	f.Fuzz(func(t *testing.T, label string) {
		l, err := locksOf(Swarm{Spec: map[string]any{"Labels": map[string]any{locksLabel: label}}})
		if err != nil {
			return
		}
		if _, err := json.Marshal(l); err != nil {
			t.Fatal(err)
		}
	})
}
