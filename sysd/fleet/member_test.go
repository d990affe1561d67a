package fleet

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

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

// The leader removes the nodes of joins that never came up (down, no
// host name, older than strayAge), and no other node; a manager that is
// not the leader removes nothing.
func TestLeaderRemovesStrayNodes(t *testing.T) {
	e := newFakeEngine("m1", "m2")
	e.nodeID = "node0"
	e.nodes[0].ManagerStatus = &struct {
		Leader       bool
		Reachability string
		Addr         string
	}{Leader: true}
	now := time.Now()
	add := func(id string, created time.Time, host string) {
		n := Node{ID: id, CreatedAt: created}
		n.Status.State = "down"
		n.Description.Hostname = host
		e.nodes = append(e.nodes, n)
	}
	add("stray", now.Add(-10*time.Minute), "")
	add("young", now.Add(-30*time.Second), "")  // may still be coming up
	add("off", now.Add(-time.Hour), "host-off") // came up once: a machine that is off
	e.nodes[1].Status.State = "down"            // m2, powered off
	log := &logBuf{}
	m := &Member{Swarm: userdata.Swarm{Role: userdata.SwarmManager}, Docker: serveEngine(t, e), Logf: log.Logf}

	// Not the leader: nothing.
	e.nodes[0].ManagerStatus.Leader = false
	if err := m.step(context.Background()); err != nil || len(e.removed) != 0 {
		t.Fatalf("not the leader: %v, removed %v", err, e.removed)
	}
	e.nodes[0].ManagerStatus.Leader = true
	if err := m.step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.removed, []string{"stray"}) {
		t.Fatalf("removed %v, want only the stray", e.removed)
	}
	if !log.has("swarm: removed node stray: it joined at ") {
		t.Errorf("log: %q", log.lines)
	}
}
