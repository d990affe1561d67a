package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeEngine answers the Engine API calls the fleet makes, with the
// swarm's versioned updates: a stale version is refused as swarmkit
// refuses it.
type fakeEngine struct {
	mu      sync.Mutex
	swarm   Swarm
	nodes   []Node
	manager bool
	state   string // LocalNodeState; default active
	joins   []JoinRequest
	leaves  int
	inits   []InitRequest
	removed []string // nodes DELETEd
	nodeID  string   // this engine's own node, in /info
}

func newFakeEngine(machines ...string) *fakeEngine {
	e := &fakeEngine{manager: true}
	e.swarm.Version.Index = 10
	e.swarm.Spec = map[string]any{"Name": "default", "Labels": map[string]any{}}
	e.swarm.JoinTokens.Worker, e.swarm.JoinTokens.Manager = "SWMTKN-worker", "SWMTKN-manager"
	for i, m := range machines {
		n := Node{ID: fmt.Sprintf("node%d", i), Version: Version{Index: 5}, Spec: map[string]any{"Availability": "active", "Role": "worker"}}
		n.Description.Hostname = "host-" + m
		n.Description.Engine.Labels = map[string]string{LabelMachineID: m, LabelVersion: "0.1.0"}
		n.Status.State = "ready"
		e.nodes = append(e.nodes, n)
	}
	return e
}

func (e *fakeEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	send := func(v any) { json.NewEncoder(w).Encode(v) }
	outOfSequence := func() {
		w.WriteHeader(500)
		send(map[string]string{"message": "rpc error: code = Unknown desc = update out of sequence"})
	}
	version := func() uint64 { v, _ := strconv.ParseUint(r.URL.Query().Get("version"), 10, 64); return v }
	switch {
	case r.Method == "GET" && r.URL.Path == "/info":
		var i Info
		i.Name = "fake"
		i.Swarm.LocalNodeState, i.Swarm.ControlAvailable, i.Swarm.NodeID = StateActive, e.manager, e.nodeID
		if e.state != "" {
			i.Swarm.LocalNodeState = e.state
		}
		i.Swarm.RemoteManagers = append(i.Swarm.RemoteManagers, struct{ NodeID, Addr string }{"node0", "127.0.0.1:2377"})
		send(i)
	case r.Method == "POST" && r.URL.Path == "/swarm/join":
		var j JoinRequest
		json.NewDecoder(r.Body).Decode(&j)
		e.joins = append(e.joins, j)
		e.state = StateActive
	case r.Method == "POST" && r.URL.Path == "/swarm/leave":
		e.leaves++
		e.state = StateInactive
	case r.Method == "POST" && r.URL.Path == "/swarm/init":
		var in InitRequest
		json.NewDecoder(r.Body).Decode(&in)
		e.inits = append(e.inits, in)
		e.state = StateActive
	case r.Method == "GET" && r.URL.Path == "/swarm":
		b, _ := json.Marshal(e.swarm) // a deep copy
		w.Write(b)
	case r.Method == "POST" && r.URL.Path == "/swarm/update":
		if version() != e.swarm.Version.Index {
			outOfSequence()
			return
		}
		var spec map[string]any
		json.NewDecoder(r.Body).Decode(&spec)
		e.swarm.Spec, e.swarm.Version.Index = spec, e.swarm.Version.Index+1
	case r.Method == "GET" && r.URL.Path == "/nodes":
		b, _ := json.Marshal(e.nodes)
		w.Write(b)
	case r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/nodes/"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/nodes/"), "/update")
		for i := range e.nodes {
			if e.nodes[i].ID == id {
				if version() != e.nodes[i].Version.Index {
					outOfSequence()
					return
				}
				json.NewDecoder(r.Body).Decode(&e.nodes[i].Spec)
				e.nodes[i].Version.Index++
				return
			}
		}
		w.WriteHeader(404)
	case r.Method == "DELETE" && strings.HasPrefix(r.URL.Path, "/nodes/"):
		id := strings.TrimPrefix(r.URL.Path, "/nodes/")
		for i := range e.nodes {
			if e.nodes[i].ID == id {
				e.removed = append(e.removed, id)
				e.nodes = slices.Delete(e.nodes, i, i+1)
				return
			}
		}
		w.WriteHeader(404)
		send(map[string]string{"message": "node " + id + " not found"})
	case r.Method == "GET" && r.URL.Path == "/tasks":
		send([]Task{})
	default:
		w.WriteHeader(404)
		send(map[string]string{"message": "no such call " + r.URL.Path})
	}
}

func (e *fakeEngine) node(machine string) Node {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, n := range e.nodes {
		if n.Description.Engine.Labels[LabelMachineID] == machine {
			return n
		}
	}
	return Node{}
}

func serveEngine(t *testing.T, e *fakeEngine) *Docker {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return NewDocker(sock)
}

type logBuf struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuf) Logf(f string, a ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, fmt.Sprintf(f, a...))
}

func (b *logBuf) has(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func mustKey(t *testing.T, secret string) *Key {
	k, err := NewKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const secret = "0123456789abcdef0123456789abcdef"

// startManager serves the fleet endpoint of a manager on a free port.
func startManager(t *testing.T, d *Docker, max int, log *logBuf) string {
	s := &Server{Key: mustKey(t, secret), Docker: d, Max: max, Logf: log.Logf, DrainWait: time.Second}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

func preReboot(c *Client, managers []string, id string) error {
	var p clientParams
	p.ClientParams.ID, p.ClientParams.Group = id, "default"
	_, err := c.First(context.Background(), managers, "/v1/pre-reboot", p, nil)
	return err
}

// Machines asking two managers at once, over TLS with the MAC, for
// slots recorded through the swarm's versioned updates: exactly max
// are granted.
func TestServerConcurrentPreReboot(t *testing.T) {
	var ids []string
	for i := range 12 {
		ids = append(ids, fmt.Sprintf("m%02d", i))
	}
	e := newFakeEngine(ids...)
	d := serveEngine(t, e)
	log := &logBuf{}
	a, b := startManager(t, d, 2, log), startManager(t, d, 2, log)
	c := NewClient(mustKey(t, secret))
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted, busy := []string{}, 0
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			managers := []string{a, b}
			if i%2 == 1 {
				managers = []string{b, a}
			}
			err := preReboot(c, managers, id)
			var re *RemoteError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				granted = append(granted, id)
			case errors.As(err, &re) && re.Kind == "busy":
				busy++
			default:
				t.Errorf("%s: %v", id, err)
			}
		}()
	}
	wg.Wait()
	if len(granted) != 2 || busy != len(ids)-2 {
		t.Fatalf("granted %v, %d busy", granted, busy)
	}
	// The holders' nodes are drained, and marked as drained by the fleet.
	for _, id := range granted {
		n := e.node(id)
		if n.Spec["Availability"] != "drain" || labelsOf(n.Spec)[drainedLabel] != "true" {
			t.Errorf("%s's node: %v", id, n.Spec)
		}
	}
	// Asking again while holding: granted (the protocol's retries).
	if err := preReboot(c, []string{a}, granted[0]); err != nil {
		t.Fatalf("repeated pre-reboot: %v", err)
	}
	// Steady state: active again, slot free, someone else gets it.
	var p clientParams
	p.ClientParams.ID = granted[0]
	if err := c.Call(context.Background(), b, "/v1/steady-state", p, nil); err != nil {
		t.Fatal(err)
	}
	if n := e.node(granted[0]); n.Spec["Availability"] != "active" || labelsOf(n.Spec)[drainedLabel] != nil {
		t.Fatalf("after steady state: %v", n.Spec)
	}
	// One that held nothing: asking for a machine that still holds a
	// slot would be a repeat, and leave one holder.
	other := ids[len(ids)-1]
	for _, id := range ids {
		if id != granted[0] && id != granted[1] {
			other = id
			break
		}
	}
	if err := preReboot(c, []string{a}, other); err != nil {
		t.Fatalf("after a slot was freed: %v", err)
	}
	// Fleet status shows the holders; unlock by host name frees one.
	var st struct {
		Holders []struct {
			MachineID string `json:"machine_id"`
			Hostname  string
		}
	}
	if err := c.Call(context.Background(), a, "/v1/fleet", struct{}{}, &st); err != nil || len(st.Holders) != 2 {
		t.Fatalf("status: %v %+v", err, st)
	}
	if err := c.Call(context.Background(), a, "/v1/fleet/unlock", map[string]string{"machine_id": "host-" + st.Holders[0].MachineID}, nil); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	var re *RemoteError
	if err := c.Call(context.Background(), a, "/v1/fleet/unlock", map[string]string{"machine_id": st.Holders[0].MachineID}, nil); !errors.As(err, &re) || re.Status != 404 {
		t.Fatalf("unlock of a machine holding nothing: %v", err)
	}
}

// A node the admin drained is not made active by the fleet.
func TestServerKeepsAdminsDrain(t *testing.T) {
	e := newFakeEngine("m1")
	e.nodes[0].Spec["Availability"] = "drain"
	d := serveEngine(t, e)
	log := &logBuf{}
	a := startManager(t, d, 1, log)
	c := NewClient(mustKey(t, secret))
	if err := preReboot(c, []string{a}, "m1"); err != nil {
		t.Fatal(err)
	}
	var p clientParams
	p.ClientParams.ID = "m1"
	if err := c.Call(context.Background(), a, "/v1/steady-state", p, nil); err != nil {
		t.Fatal(err)
	}
	if n := e.node("m1"); n.Spec["Availability"] != "drain" {
		t.Fatalf("the admin's drain was undone: %v", n.Spec)
	}
}

// No join token for a machine without the secret: a client with another
// secret refuses the manager's key, and the manager logs the refusal; a
// request whose MAC is wrong is refused and logged too.
func TestServerRefusesOtherSecret(t *testing.T) {
	d := serveEngine(t, newFakeEngine())
	log := &logBuf{}
	a := startManager(t, d, 1, log)
	good := NewClient(mustKey(t, secret))
	if r, err := good.Token(context.Background(), a, "worker"); err != nil || r.Token != "SWMTKN-worker" || len(r.Managers) != 1 {
		t.Fatalf("token: %+v %v", r, err)
	}
	bad := NewClient(mustKey(t, strings.Repeat("x", 32)))
	_, err := bad.Token(context.Background(), a, "worker")
	if !errors.Is(err, ErrOtherSecret) {
		t.Fatalf("other secret: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !log.has("fleet: refused 127.0.0.1:") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !log.has("the TLS handshake failed") {
		t.Fatalf("no refusal logged: %v", log.lines)
	}
	// The right key for TLS, the wrong one for the MAC.
	forged := &Client{Key: &Key{tls: good.Key.tls, macKey: []byte("not the cluster's")}, HTTP: good.HTTP}
	var re *RemoteError
	if _, err := forged.Token(context.Background(), a, "worker"); !errors.As(err, &re) || re.Status != http.StatusUnauthorized {
		t.Fatalf("forged MAC: %v", err)
	}
	if !log.has("refused a join token to 127.0.0.1:") {
		t.Fatalf("MAC refusal not logged: %v", log.lines)
	}
	if _, err := good.Token(context.Background(), a, "admin"); !errors.As(err, &re) || re.Status != http.StatusBadRequest {
		t.Fatalf("bad role: %v", err)
	}
}

// A worker's endpoint says it is not a manager; the client passes on to
// the next.
func TestClientSkipsNonManagers(t *testing.T) {
	w := newFakeEngine("m1")
	w.manager = false
	log := &logBuf{}
	worker := startManager(t, serveEngine(t, w), 1, log)
	mgr := startManager(t, serveEngine(t, newFakeEngine("m1")), 1, log)
	c := NewClient(mustKey(t, secret))
	if err := preReboot(c, []string{worker, mgr}, "m1"); err != nil {
		t.Fatal(err)
	}
	var re *RemoteError
	if err := preReboot(c, []string{worker}, "m1"); !errors.As(err, &re) || re.Kind != "not_a_manager" {
		t.Fatalf("worker only: %v", err)
	}
}
