package fleet

import (
	"context"
	"net"
	"strings"
	"testing"

	"berth.dev/berth/sysd/userdata"
)

// A machine whose manager does not answer stays out and says why; once
// the manager answers, it joins with the token and managers it was given.
func TestMemberJoins(t *testing.T) {
	local := newFakeEngine()
	local.state = StateInactive
	d := serveEngine(t, local)
	log := &logBuf{}
	// A port nobody listens on.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	m := &Member{Swarm: userdata.Swarm{Role: userdata.SwarmWorker, Join: dead, Secret: secret, Advertise: "192.168.77.13"},
		Docker: d, Client: NewClient(mustKey(t, secret)), Logf: log.Logf}
	err := m.step(context.Background())
	if err == nil || !strings.Contains(err.Error(), "get a worker join token from "+dead) {
		t.Fatalf("dead manager: %v", err)
	}
	if st := m.State(); st.State != StateInactive || st.Role != "worker" {
		t.Fatalf("state: %+v", st)
	}
	mgr := startManager(t, serveEngine(t, newFakeEngine()), 1, log)
	m.Swarm.Join = mgr
	if err := m.step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(local.joins) != 1 || local.joins[0].JoinToken != "SWMTKN-worker" || local.joins[0].AdvertiseAddr != "192.168.77.13" ||
		len(local.joins[0].RemoteAddrs) != 1 || local.joins[0].RemoteAddrs[0] != "127.0.0.1:2377" {
		t.Fatalf("join: %+v", local.joins)
	}
	// A member already: nothing more.
	if err := m.step(context.Background()); err != nil || len(local.joins) != 1 {
		t.Fatalf("again: %v, %d joins", err, len(local.joins))
	}
	// Removed from the swarm (its node in error): it leaves, and joins
	// again.
	local.mu.Lock()
	local.state = StateError
	local.mu.Unlock()
	if err := m.step(context.Background()); err != nil || local.leaves != 1 || len(local.joins) != 2 {
		t.Fatalf("rejoin: %v, %d leaves, %d joins", err, local.leaves, len(local.joins))
	}
	// The first manager creates the swarm, once.
	first := newFakeEngine()
	first.state = StateInactive
	fm := &Member{Swarm: userdata.Swarm{Role: userdata.SwarmManager, Secret: secret, Advertise: "eth1"}, Docker: serveEngine(t, first), Logf: log.Logf}
	if err := fm.step(context.Background()); err != nil || len(first.inits) != 1 || first.inits[0].AdvertiseAddr != "eth1" {
		t.Fatalf("init: %v %+v", err, first.inits)
	}
	if err := fm.step(context.Background()); err != nil || len(first.inits) != 1 {
		t.Fatalf("init again: %v %+v", err, first.inits)
	}
}
