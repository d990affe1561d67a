package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/userdata"
)

// swarmPort is the swarm's manager port (docker swarm init's default).
const swarmPort = 2377

// Member keeps this machine in the swarm berth.swarm names: it creates
// the swarm (the first manager), or gets a join token from a manager's
// fleet endpoint and joins; it checks again every little while, and
// joins again when it was removed. It never stops the boot: a manager
// that does not answer is retried with backoff, and Status says why.
type Member struct {
	Swarm  userdata.Swarm
	Docker *Docker
	Client *Client
	Logf   func(string, ...any)

	mu    sync.Mutex
	state wire.FleetMember
	info  Info
	// strayFailed are the stray nodes whose removal failed and was said.
	strayFailed map[string]bool
}

// recheck is how often a member looks at its swarm state.
const recheck = 30 * time.Second

// Run keeps the membership until ctx ends.
func (m *Member) Run(ctx context.Context) {
	backoff := time.Second
	last := ""
	for {
		err := m.step(ctx)
		wait := recheck
		problem := ""
		var nd notReady
		switch {
		case errors.As(err, &nd):
			// dockerd starts beside sysd: not a failure to back off from.
			problem, wait = err.Error(), 2*time.Second
		case err != nil:
			problem = err.Error()
			wait, backoff = backoff, min(2*backoff, time.Minute)
		default:
			backoff = time.Second
		}
		m.mu.Lock()
		if m.state.Problem != problem || m.state.Since.IsZero() {
			m.state.Since = time.Now().UTC()
		}
		m.state.Problem = problem
		m.mu.Unlock()
		if problem != last {
			if problem != "" {
				m.Logf("swarm: not in the swarm: %s (trying again)", problem)
			}
			last = problem
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (m *Member) step(ctx context.Context) error {
	info, err := m.Docker.Info(ctx)
	if err != nil {
		return notReady{err}
	}
	m.setInfo(info)
	switch info.Swarm.LocalNodeState {
	case StateActive:
		if info.Swarm.ControlAvailable {
			m.removeStrays(ctx, info.Swarm.NodeID, time.Now())
		}
		return nil
	case StatePending:
		return errors.New("joining: the swarm has not answered yet")
	case StateLocked:
		return errors.New("the swarm is locked (autolock): docker swarm unlock on this machine")
	case StateError:
		// Removed from the swarm, or its certificates are gone: start
		// over.
		m.Logf("swarm: this node is in error (%s): leaving to join again", info.Swarm.Error)
		if err := m.Docker.SwarmLeave(ctx); err != nil {
			return err
		}
	}
	sw := m.Swarm
	if sw.Role == userdata.SwarmManager && sw.Join == "" {
		adv, err := advertise(sw.Advertise, "")
		if err != nil {
			return err
		}
		if err := m.Docker.SwarmInit(ctx, InitRequest{ListenAddr: "0.0.0.0:" + strconv.Itoa(swarmPort), AdvertiseAddr: adv}); err != nil {
			return fmt.Errorf("create the swarm: %w", err)
		}
		m.Logf("swarm: created the swarm, advertising %s", adv)
		return m.refresh(ctx)
	}
	tok, err := m.Client.Token(ctx, sw.Join, string(sw.Role))
	if err != nil {
		return fmt.Errorf("get a %s join token from %s: %w", sw.Role, sw.Join, err)
	}
	host, _, err := net.SplitHostPort(Endpoint(sw.Join))
	if err != nil {
		return err
	}
	adv, err := advertise(sw.Advertise, host)
	if err != nil {
		return err
	}
	remotes := tok.Managers
	if len(remotes) == 0 {
		remotes = []string{net.JoinHostPort(host, strconv.Itoa(swarmPort))}
	}
	err = m.Docker.SwarmJoin(ctx, JoinRequest{ListenAddr: "0.0.0.0:" + strconv.Itoa(swarmPort), AdvertiseAddr: adv, RemoteAddrs: remotes, JoinToken: tok.Token})
	if err != nil {
		return fmt.Errorf("join the swarm through %v: %w", remotes, err)
	}
	m.Logf("swarm: joined as a %s through %v, advertising %s", sw.Role, remotes, adv)
	return m.refresh(ctx)
}

func (m *Member) refresh(ctx context.Context) error {
	info, err := m.Docker.Info(ctx)
	if err != nil {
		return err
	}
	m.setInfo(info)
	return nil
}

func (m *Member) setInfo(info Info) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.info = info
	m.state.Role = string(m.Swarm.Role)
	m.state.State = info.Swarm.LocalNodeState
	m.state.NodeID = info.Swarm.NodeID
	m.state.Manager = info.Swarm.ControlAvailable
}

// State is this machine's membership.
func (m *Member) State() wire.FleetMember {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.state
	if s.State == "" {
		s.Role, s.State = string(m.Swarm.Role), "unknown"
	}
	return s
}

// Managers are the fleet endpoints to ask, this machine's own first
// when it manages: the swarm's managers as Docker knows them, and the
// join address.
func (m *Member) Managers() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	add := func(addr string) {
		if addr != "" && !seen[addr] {
			seen[addr] = true
			out = append(out, addr)
		}
	}
	if m.info.Swarm.ControlAvailable {
		add("127.0.0.1")
	}
	for _, r := range m.info.Swarm.RemoteManagers {
		if h, _, err := net.SplitHostPort(r.Addr); err == nil {
			add(h)
		}
	}
	if m.Swarm.Join != "" {
		if h, p, err := net.SplitHostPort(m.Swarm.Join); err == nil && p == strconv.Itoa(Port) {
			add(h)
		} else {
			add(m.Swarm.Join)
		}
	}
	return out
}

// notReady is a Docker that does not answer yet.
type notReady struct{ err error }

func (e notReady) Error() string { return "waiting for Docker: " + e.err.Error() }
func (e notReady) Unwrap() error { return e.err }

// advertise is the address for swarm traffic: as given (an address or
// an interface name, which dockerd resolves), or the one this machine
// reaches toward from (the default route's, without to).
func advertise(given, toward string) (string, error) {
	if given != "" {
		return given, nil
	}
	if toward == "" {
		toward = "192.0.2.1" // TEST-NET-1: only the routing decision counts
	}
	// A UDP "connection" sends nothing: it asks the kernel for the
	// source address of the route.
	c, err := net.Dial("udp", net.JoinHostPort(toward, "9"))
	if err != nil {
		return "", fmt.Errorf("choose the address to advertise (no route to %s): %w; set berth.swarm.advertise", toward, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String(), nil
}

// strayAge is how long a node may be down without ever having said who it
// is before the leader removes it: a node describes itself (host name,
// engine labels) within seconds of joining, even under emulation.
const strayAge = 2 * time.Minute

// removeStrays removes, on the leader, the nodes of joins that never came
// up. A manager's join that times out (the leader could not reach the new
// member in time, as under load) leaves a node with a certificate and
// nothing else; the machine then joins again under a new node ID, and the
// first one stays in `docker node ls` as Down, without a host name, for
// ever. A node that ever came up has a host name and is never touched.
func (m *Member) removeStrays(ctx context.Context, self string, now time.Time) {
	nodes, err := m.Docker.Nodes(ctx)
	if err != nil {
		return
	}
	leader := false
	for _, n := range nodes {
		if n.ID == self && n.ManagerStatus != nil && n.ManagerStatus.Leader {
			leader = true
		}
	}
	if !leader {
		return
	}
	for _, n := range nodes {
		if !stray(n, now) {
			continue
		}
		if err := m.Docker.NodeRemove(ctx, n.ID); err != nil {
			if !m.strayFailed[n.ID] {
				m.Logf("swarm: node %s never came up (down since it joined at %s): removing it: %v", n.ID, n.CreatedAt.UTC().Format(time.RFC3339), err)
			}
			if m.strayFailed == nil {
				m.strayFailed = map[string]bool{}
			}
			m.strayFailed[n.ID] = true
			continue
		}
		m.Logf("swarm: removed node %s: it joined at %s but never came up (a join that timed out, made again under another node ID)", n.ID, n.CreatedAt.UTC().Format(time.RFC3339))
	}
}

// stray says whether n is a node that got its certificate and never came
// up.
func stray(n Node, now time.Time) bool {
	return n.Status.State == "down" && n.Description.Hostname == "" && n.Description.Engine.Labels[LabelMachineID] == "" &&
		!n.CreatedAt.IsZero() && now.Sub(n.CreatedAt) > strayAge
}
