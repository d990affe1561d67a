package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Docker speaks the few calls of the Engine API the fleet needs, over
// dockerd's unix socket. (The moby client module would bring the whole
// engine's types for a dozen requests.)
type Docker struct {
	Socket string
	c      *http.Client
}

// NewDocker returns a client of the engine at socket.
func NewDocker(socket string) *Docker {
	return &Docker{Socket: socket, c: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}}
}

// APIError is the engine's refusal, with its status and message.
type APIError struct {
	Op      string
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("docker: %s: %s (%d)", e.Op, e.Message, e.Status)
}

func (d *Docker) do(ctx context.Context, method, path string, in, out any) error {
	op := method + " " + path
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("docker: %s: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+path, body)
	if err != nil {
		return fmt.Errorf("docker: %s: %w", op, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.c.Do(req)
	if err != nil {
		return fmt.Errorf("docker: %s: %w", op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("docker: %s: %w", op, err)
	}
	if resp.StatusCode/100 != 2 {
		var m struct{ Message string }
		if json.Unmarshal(b, &m) != nil || m.Message == "" {
			m.Message = strings.TrimSpace(string(b))
		}
		return &APIError{Op: op, Status: resp.StatusCode, Message: m.Message}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("docker: %s: the answer does not parse: %w", op, err)
		}
	}
	return nil
}

// Info is what GET /info says of the swarm.
type Info struct {
	Name  string
	Swarm struct {
		NodeID           string
		NodeAddr         string
		LocalNodeState   string // inactive, pending, active, error, locked
		ControlAvailable bool
		Error            string
		RemoteManagers   []struct{ NodeID, Addr string }
		Cluster          *struct{ ID string }
	}
}

// Swarm states of Info.
const (
	StateInactive = "inactive"
	StatePending  = "pending"
	StateActive   = "active"
	StateError    = "error"
	StateLocked   = "locked"
)

func (d *Docker) Info(ctx context.Context) (Info, error) {
	var i Info
	return i, d.do(ctx, "GET", "/info", nil, &i)
}

// InitRequest is POST /swarm/init's body.
type InitRequest struct {
	ListenAddr    string
	AdvertiseAddr string `json:",omitempty"`
}

func (d *Docker) SwarmInit(ctx context.Context, r InitRequest) error {
	return d.do(ctx, "POST", "/swarm/init", r, nil)
}

// JoinRequest is POST /swarm/join's body.
type JoinRequest struct {
	ListenAddr    string
	AdvertiseAddr string `json:",omitempty"`
	RemoteAddrs   []string
	JoinToken     string
}

func (d *Docker) SwarmJoin(ctx context.Context, r JoinRequest) error {
	return d.do(ctx, "POST", "/swarm/join", r, nil)
}

func (d *Docker) SwarmLeave(ctx context.Context) error {
	return d.do(ctx, "POST", "/swarm/leave?force=true", nil, nil)
}

// Version is a swarm object's version: an update names the version it
// read, and the swarm refuses it when another came in between.
type Version struct{ Index uint64 }

// Swarm is GET /swarm (managers only). Spec is kept as it came, so an
// update changes only what it means to.
type Swarm struct {
	ID         string
	Version    Version
	Spec       map[string]any
	JoinTokens struct{ Worker, Manager string }
}

func (d *Docker) Swarm(ctx context.Context) (Swarm, error) {
	var s Swarm
	return s, d.do(ctx, "GET", "/swarm", nil, &s)
}

func (d *Docker) SwarmUpdate(ctx context.Context, version uint64, spec map[string]any) error {
	return d.do(ctx, "POST", fmt.Sprintf("/swarm/update?version=%d", version), spec, nil)
}

// Node is an entry of GET /nodes.
type Node struct {
	ID          string
	Version     Version
	CreatedAt   time.Time
	Spec        map[string]any
	Description struct {
		Hostname string
		Engine   struct {
			EngineVersion string
			Labels        map[string]string
		}
	}
	Status        struct{ State, Addr, Message string }
	ManagerStatus *struct {
		Leader       bool
		Reachability string
		Addr         string
	}
}

func (d *Docker) Nodes(ctx context.Context) ([]Node, error) {
	var ns []Node
	return ns, d.do(ctx, "GET", "/nodes", nil, &ns)
}

// NodeRemove takes a down node out of the swarm's list. Without force:
// a node that came up meanwhile is refused, and so is a Raft member.
func (d *Docker) NodeRemove(ctx context.Context, id string) error {
	return d.do(ctx, "DELETE", "/nodes/"+url.PathEscape(id), nil, nil)
}

func (d *Docker) NodeUpdate(ctx context.Context, n Node) error {
	return d.do(ctx, "POST", fmt.Sprintf("/nodes/%s/update?version=%d", url.PathEscape(n.ID), n.Version.Index), n.Spec, nil)
}

// Task is an entry of GET /tasks.
type Task struct {
	ID           string
	NodeID       string
	DesiredState string
	Status       struct{ State string }
}

// Tasks lists the tasks the swarm has placed on node, in any state.
func (d *Docker) Tasks(ctx context.Context, node string) ([]Task, error) {
	f, _ := json.Marshal(map[string][]string{"node": {node}})
	var ts []Task
	return ts, d.do(ctx, "GET", "/tasks?filters="+url.QueryEscape(string(f)), nil, &ts)
}

// isConflict reports a swarm update refused for a stale version.
func isConflict(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && strings.Contains(ae.Message, "out of sequence")
}
