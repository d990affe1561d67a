package sysd

import (
	"context"
	"log"
	"time"

	"berth.dev/berth/internal/console"
	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/machine"
	"berth.dev/berth/sysd/service"
)

// announceAllUp prints one line when every service that is to run this
// boot is up for the first time (Docker answering, for instance): when
// the machine is really usable, and what it uses then. The benchmark and
// the admin read it; a service that never comes up leaves it unprinted.
// Equivalent to: os-ctl service ls, until every STATE is up or finished.
func announceAllUp(l *log.Logger, m *service.Manager, sys *system) {
	var names []string
	for _, st := range m.List() {
		switch st.State {
		case wire.Skipped, wire.Disabled, wire.Invalid:
		default:
			names = append(names, st.Name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := m.WaitUp(ctx, names...); err != nil {
		return
	}
	used, total := machine.Memory()
	l.Printf("services up n=%d boot_ms=%d used_kb=%d total_kb=%d", len(names), console.SinceBootMS(), used, total)
}
