package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"berth.dev/berth/sysd/api/wire"
)

// Engine labels every Berth machine's dockerd carries (daemon.json's
// labels), which its swarm node description shows the managers: how a
// FleetLock ID (the machine ID) finds its node, and the fleet's versions.
const (
	LabelMachineID = "dev.berth.machine-id"
	LabelVersion   = "dev.berth.version"
	// drainedLabel marks a node the fleet drained for a reboot: only
	// those are made active again at steady state (a node the admin
	// drained stays drained).
	drainedLabel = "dev.berth.fleet.drained"
)

// The FleetLock protocol (Fedora CoreOS's Zincati): the header every
// request carries, the body, and an error's body.
const protocolHeader = "fleet-lock-protocol"

type clientParams struct {
	ClientParams struct {
		ID    string `json:"id"`
		Group string `json:"group"`
	} `json:"client_params"`
}

type protocolError struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// JoinRequest is the body of POST /v1/join-token.
type TokenRequest struct {
	Role string `json:"role"`
}

// TokenReply is its answer: the token, and the managers' swarm
// addresses to join through.
type TokenReply struct {
	Token    string   `json:"token"`
	Managers []string `json:"managers"`
}

// Server is the fleet endpoint: join tokens, FleetLock, the fleet's
// status. Every request must be signed with the cluster's key; on a
// machine that is not a manager it answers only that it is not.
type Server struct {
	Key           *Key
	Docker        *Docker
	Max           int           // reboot slots per group
	RebootTimeout time.Duration // a holder past it halts the rollout
	Logf          func(string, ...any)
	// DrainWait bounds the wait for a drained node's tasks to stop.
	DrainWait time.Duration
}

// Handler returns the endpoint's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/join-token", s.auth("join token", s.joinToken))
	mux.HandleFunc("POST /v1/pre-reboot", s.auth("reboot slot", s.preReboot))
	mux.HandleFunc("POST /v1/steady-state", s.auth("steady state", s.steadyState))
	mux.HandleFunc("POST /v1/fleet", s.auth("fleet status", s.status))
	mux.HandleFunc("POST /v1/fleet/unlock", s.auth("unlock", s.unlock))
	return mux
}

// Serve serves the endpoint with TLS on l until it fails. Handshakes
// that fail (a peer with another secret refuses this key) are logged
// as refusals.
func (s *Server) Serve(l net.Listener) error {
	cfg, err := s.Key.ServerTLS()
	if err != nil {
		return err
	}
	// The port faces the network: a peer that sends slowly (the body's
	// deadline is set in auth) or holds idle connections loses them. No
	// ReadTimeout: it would cancel a pre-reboot's context while the node
	// drains; no WriteTimeout: that answer comes only once it drained.
	srv := &http.Server{Handler: s.Handler(), TLSConfig: cfg, ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 2 * time.Minute, ErrorLog: refusalLog(s.Logf)}
	return srv.ServeTLS(l, "", "")
}

// bodyTimeout bounds the reading of a request's body.
const bodyTimeout = 30 * time.Second

// handlerFunc answers a request; info is what this manager's engine said
// of itself when the request was checked.
type handlerFunc func(ctx context.Context, info Info, body []byte) (any, int, error)

// auth checks the request's MAC, and that this machine manages the
// swarm, before h.
func (s *Server) auth(what string, h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		rc.SetReadDeadline(time.Now().Add(bodyTimeout))
		body, err := s.Key.Verify(r)
		rc.SetReadDeadline(time.Time{})
		if err != nil {
			s.Logf("fleet: refused a %s to %s: %v", what, r.RemoteAddr, err)
			replyErr(w, http.StatusUnauthorized, "unauthorized", err.Error())
			return
		}
		if r.Header.Get(protocolHeader) != "true" {
			replyErr(w, http.StatusBadRequest, "missing_header", "the "+protocolHeader+" header must be true")
			return
		}
		info, err := s.Docker.Info(r.Context())
		if err != nil {
			replyErr(w, http.StatusServiceUnavailable, "not_ready", err.Error())
			return
		}
		if !info.Swarm.ControlAvailable {
			replyErr(w, http.StatusServiceUnavailable, "not_a_manager", fmt.Sprintf("%s is not a swarm manager (state %s)", info.Name, info.Swarm.LocalNodeState))
			return
		}
		v, code, err := h(r.Context(), info, body)
		if err != nil {
			kind := "failed"
			var be *BusyError
			if errors.As(err, &be) {
				kind = "busy"
			}
			replyErr(w, code, kind, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
}

func replyErr(w http.ResponseWriter, code int, kind, value string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(protocolError{Kind: kind, Value: value})
}

func (s *Server) joinToken(ctx context.Context, info Info, body []byte) (any, int, error) {
	var req TokenRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("the request does not parse: %w", err)
	}
	sw, err := s.Docker.Swarm(ctx)
	if err != nil {
		return nil, http.StatusServiceUnavailable, err
	}
	rep := TokenReply{}
	switch req.Role {
	case "worker":
		rep.Token = sw.JoinTokens.Worker
	case "manager":
		rep.Token = sw.JoinTokens.Manager
	default:
		return nil, http.StatusBadRequest, fmt.Errorf("%q is not a swarm role", req.Role)
	}
	for _, m := range info.Swarm.RemoteManagers {
		rep.Managers = append(rep.Managers, m.Addr)
	}
	s.Logf("fleet: gave a %s join token", req.Role)
	return rep, http.StatusOK, nil
}

func (s *Server) lock() *Lock { return &Lock{Store: SwarmStore{Docker: s.Docker}, Max: s.Max} }

func params(body []byte) (id, group string, err error) {
	var p clientParams
	if err := json.Unmarshal(body, &p); err != nil {
		return "", "", fmt.Errorf("the body does not parse: %w", err)
	}
	if p.ClientParams.ID == "" {
		return "", "", errors.New("client_params.id is empty")
	}
	if p.ClientParams.Group == "" {
		p.ClientParams.Group = "default"
	}
	return p.ClientParams.ID, p.ClientParams.Group, nil
}

// preReboot grants a reboot slot, then drains the machine's node and
// waits (bounded) for its tasks to move, so that it reboots with no
// work on it.
func (s *Server) preReboot(ctx context.Context, _ Info, body []byte) (any, int, error) {
	id, group, err := params(body)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	if err := s.lock().PreReboot(ctx, id, group); err != nil {
		var be *BusyError
		if errors.As(err, &be) {
			return nil, http.StatusConflict, err
		}
		return nil, http.StatusInternalServerError, err
	}
	s.Logf("fleet: %s holds a reboot slot (group %s)", id, group)
	if err := s.drain(ctx, id); err != nil {
		// The slot stays granted: the reboot goes on with the node's
		// tasks stopped by the reboot, as without a swarm.
		s.Logf("fleet: drain %s: %v", id, err)
	}
	return struct{}{}, http.StatusOK, nil
}

func (s *Server) steadyState(ctx context.Context, _ Info, body []byte) (any, int, error) {
	id, group, err := params(body)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	// Active again first: a slot freed before that would let the next
	// machine drain while this one takes no tasks.
	if err := s.activate(ctx, id); err != nil {
		return nil, http.StatusServiceUnavailable, fmt.Errorf("make %s's node active: %w", id, err)
	}
	held, err := s.lock().SteadyState(ctx, id, group)
	if err != nil {
		return nil, http.StatusInternalServerError, err
	}
	if held {
		s.Logf("fleet: %s is steady: its reboot slot is free", id)
	}
	return struct{}{}, http.StatusOK, nil
}

func (s *Server) unlock(ctx context.Context, _ Info, body []byte) (any, int, error) {
	var req wire.FleetUnlock
	if err := json.Unmarshal(body, &req); err != nil || req.MachineID == "" {
		return nil, http.StatusBadRequest, errors.New("name the machine to unlock")
	}
	st, err := s.Status(ctx)
	if err != nil {
		return nil, http.StatusServiceUnavailable, err
	}
	id := req.MachineID
	for _, n := range st.Nodes {
		// The admin may name the machine by its host name or node ID.
		if n.Hostname == id || n.ID == id {
			id = n.MachineID
		}
	}
	held, err := s.lock().Unlock(ctx, id)
	if err != nil {
		return nil, http.StatusInternalServerError, err
	}
	if !held {
		return nil, http.StatusNotFound, fmt.Errorf("%s holds no reboot slot", req.MachineID)
	}
	s.Logf("fleet: %s's reboot slot freed on the admin's word", id)
	return struct{}{}, http.StatusOK, nil
}

func (s *Server) status(ctx context.Context, _ Info, _ []byte) (any, int, error) {
	st, err := s.Status(ctx)
	if err != nil {
		return nil, http.StatusServiceUnavailable, err
	}
	return st, http.StatusOK, nil
}

// Status is the fleet as this manager sees it.
func (s *Server) Status(ctx context.Context) (wire.Fleet, error) {
	var f wire.Fleet
	nodes, err := s.Docker.Nodes(ctx)
	if err != nil {
		return f, err
	}
	host := map[string]string{}
	for _, n := range nodes {
		fn := wire.FleetNode{
			ID: n.ID, Hostname: n.Description.Hostname, Role: "worker",
			MachineID: n.Description.Engine.Labels[LabelMachineID], Version: n.Description.Engine.Labels[LabelVersion],
			State: n.Status.State, Addr: n.Status.Addr,
		}
		fn.Availability, _ = n.Spec["Availability"].(string)
		if n.ManagerStatus != nil {
			fn.Role, fn.Leader = "manager", n.ManagerStatus.Leader
		}
		host[fn.MachineID] = fn.Hostname
		f.Nodes = append(f.Nodes, fn)
	}
	slices.SortFunc(f.Nodes, func(a, b wire.FleetNode) int { return strings.Compare(a.Hostname, b.Hostname) })
	locks, _, err := SwarmStore{Docker: s.Docker}.Load(ctx)
	if err != nil {
		return f, err
	}
	timeout := s.RebootTimeout
	if timeout <= 0 {
		timeout = DefaultRebootTimeout
	}
	var halted []string
	for _, h := range locks.Holders {
		fh := wire.FleetHolder{MachineID: h.ID, Group: h.Group, Since: h.Since, Hostname: host[h.ID]}
		if time.Since(h.Since) > timeout {
			fh.Overdue = true
			name := h.ID
			if fh.Hostname != "" {
				name = fh.Hostname + " (" + h.ID + ")"
			}
			halted = append(halted, fmt.Sprintf("%s took a reboot slot at %s and has not reported steady state within %s (os-ctl fleet unlock %s frees it)",
				name, h.Since.UTC().Format(time.RFC3339), timeout, h.ID))
		}
		f.Holders = append(f.Holders, fh)
	}
	f.Halted = strings.Join(halted, "; ")
	return f, nil
}

// DefaultRebootTimeout is berth.update.reboot_timeout's default.
const DefaultRebootTimeout = 30 * time.Minute

// nodeOf finds the swarm node of a machine.
func (s *Server) nodeOf(ctx context.Context, id string) (Node, error) {
	nodes, err := s.Docker.Nodes(ctx)
	if err != nil {
		return Node{}, err
	}
	for _, n := range nodes {
		if n.Description.Engine.Labels[LabelMachineID] == id {
			return n, nil
		}
	}
	return Node{}, fmt.Errorf("no swarm node has machine ID %s", id)
}

// setNode changes a machine's node spec with f, retrying when the node
// changed in between; f returns false to leave it.
func (s *Server) setNode(ctx context.Context, id string, f func(spec map[string]any) bool) (Node, error) {
	for try := 0; ; try++ {
		n, err := s.nodeOf(ctx, id)
		if err != nil {
			return n, err
		}
		if n.Spec == nil {
			n.Spec = map[string]any{}
		}
		if !f(n.Spec) {
			return n, nil
		}
		err = s.Docker.NodeUpdate(ctx, n)
		if err == nil || !isConflict(err) || try >= 10 {
			return n, err
		}
	}
}

func labelsOf(spec map[string]any) map[string]any {
	l, _ := spec["Labels"].(map[string]any)
	if l == nil {
		l = map[string]any{}
		spec["Labels"] = l
	}
	return l
}

func (s *Server) drain(ctx context.Context, id string) error {
	n, err := s.setNode(ctx, id, func(spec map[string]any) bool {
		if spec["Availability"] != "active" {
			return false // drained or paused by the admin: theirs to undo
		}
		spec["Availability"] = "drain"
		labelsOf(spec)[drainedLabel] = "true"
		return true
	})
	if err != nil {
		return err
	}
	wait := s.DrainWait
	if wait <= 0 {
		wait = 2 * time.Minute
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		ts, err := s.Docker.Tasks(ctx, n.ID)
		if err != nil {
			return err
		}
		running := 0
		for _, t := range ts {
			if t.Status.State == "running" || t.Status.State == "starting" {
				running++
			}
		}
		if running == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("node %s still runs tasks after %s", n.ID, wait)
}

func (s *Server) activate(ctx context.Context, id string) error {
	_, err := s.setNode(ctx, id, func(spec map[string]any) bool {
		l := labelsOf(spec)
		if _, ok := l[drainedLabel]; !ok {
			return false
		}
		delete(l, drainedLabel)
		spec["Availability"] = "active"
		return true
	})
	return err
}
