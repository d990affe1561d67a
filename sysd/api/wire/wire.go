// Package wire is what sysd's API says, in types that sysd and its
// clients (os-ctl) share: the states of services as named types, the
// status records of services, the machine, the network and updates'
// requests, and the transport to the API's unix socket. It links nothing of
// the supervisor, the container runtime or the network stack.
package wire

import (
	"context"
	"net"
	"net/http"
	"time"

	"berth.dev/berth/sysd/cgroup"
)

// DefaultSocket is where sysd listens.
const DefaultSocket = "/run/berth/api.sock"

// Client is an HTTP client that reaches sysd over the unix socket.
func Client(socket string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
}

// State is where a service is.
type State string

const (
	Inactive  State = "inactive"  // loaded, not started
	Invalid   State = "invalid"   // the unit file has errors; not started
	Disabled  State = "disabled"  // by `os-ctl service disable`
	Skipped   State = "skipped"   // a Condition…= did not hold
	Waiting   State = "waiting"   // for its dependencies
	Starting  State = "starting"  // being started
	Running   State = "running"   // started, not yet ready or healthy
	Up        State = "up"        // running, ready and healthy
	Unhealthy State = "unhealthy" // running, its health check failing
	Stopping  State = "stopping"
	Exited    State = "exited"   // ended; the restart policy decides
	Backoff   State = "backoff"  // waiting to be started again
	Failed    State = "failed"   // ended for good: the start limit, or no restart
	Finished  State = "finished" // ended and not restarted, by policy
	Stopped   State = "stopped"  // stopped on request
)

// Done says whether a service in this state has done what it is for:
// up, or finished as its policy wanted (a oneshot).
func (s State) Done() bool { return s == Up || s == Finished }

// Health is what a service's health check says.
type Health string

const (
	NoHealth       Health = ""          // the service has no HealthCmd
	HealthStarting Health = "starting"  // within its start period
	Healthy        Health = "healthy"   // the last check passed
	HealthFailing  Health = "unhealthy" // HealthRetries checks in a row failed
)

// Event is one entry of a service's history.
type Event struct {
	Service string    `json:"service"`
	Time    time.Time `json:"time"`
	State   State     `json:"state"`
	Msg     string    `json:"msg,omitempty"`
}

func (e Event) String() string {
	if e.Msg == "" {
		return string(e.State)
	}
	return string(e.State) + ": " + e.Msg
}

// Service is what the API shows of a service.
type Service struct {
	Name        string        `json:"name"`
	Description string        `json:"description,omitempty"`
	Source      string        `json:"source"`
	Enabled     bool          `json:"enabled"`
	State       State         `json:"state"`
	Since       time.Time     `json:"since"`
	Up          bool          `json:"up"`
	Pid         int           `json:"pid,omitempty"`
	Ready       bool          `json:"ready"`
	Health      Health        `json:"health,omitempty"`
	HealthError string        `json:"health_error,omitempty"` // what the last failed check said, until one passes
	Status      string        `json:"status,omitempty"`       // the service's own STATUS=
	Waiting     string        `json:"waiting,omitempty"`
	Reason      string        `json:"reason,omitempty"` // why it failed
	HealthGate  bool          `json:"health_gate,omitempty"`
	Starts      int           `json:"starts"`
	Usage       *cgroup.Usage `json:"usage,omitempty"`
	Problems    []string      `json:"problems,omitempty"`
	Events      []Event       `json:"events,omitempty"`
}

// System is GET /v1/status.
type System struct {
	Version string `json:"version"`
	Slot    string `json:"slot"`
	// Root says how the running root is checked (dm-verity or not).
	Root string `json:"root,omitempty"`
	// Storage is STATE's device and size, and whether it grew.
	Storage string `json:"storage,omitempty"`
	// Swarm is the machine's membership when berth.swarm is set.
	Swarm     *FleetMember `json:"swarm,omitempty"`
	MachineID string       `json:"machine_id"`
	Hostname  string       `json:"hostname"`
	BootN     int          `json:"boot_n"`
	BootMS    int64        `json:"boot_ms"`
	Booted    time.Time    `json:"booted"`
	Services  Counts       `json:"services"`
	MemoryKB  struct {
		Used  int64 `json:"used"`
		Total int64 `json:"total"`
	} `json:"memory_kb"`
	Problems []string `json:"problems,omitempty"`
}

// Counts sums up the services.
type Counts struct {
	Total  int      `json:"total"`
	Up     int      `json:"up"`
	Failed []string `json:"failed,omitempty"`
}

// Error is every error response's body.
type Error struct {
	Error string `json:"error"`
}
