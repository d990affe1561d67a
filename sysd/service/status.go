// Package service is sysd's supervisor: it loads unit files, orders
// services by their dependencies, starts independent ones in parallel,
// runs each in a system container under a restart policy, tracks
// readiness, health and the watchdog, keeps each service's event history
// and log, and stops everything in reverse order.
package service

import (
	"errors"
	"time"

	"berth.dev/berth/sysd/cgroup"
)

// States a service goes through; supervise's states are among them.
const (
	StateInvalid   = "invalid"  // the unit file has errors; not started
	StateDisabled  = "disabled" // by `os-ctl service disable`
	StateSkipped   = "skipped"  // a Condition…= did not hold
	StateWaiting   = "waiting"  // for its dependencies
	StateRunning   = "running"  // started, not yet ready or healthy
	StateUp        = "up"       // running, ready and healthy
	StateUnhealthy = "unhealthy"
	StateStopping  = "stopping"
)

// Event is one entry of a service's history.
type Event struct {
	Service string    `json:"service"`
	Time    time.Time `json:"time"`
	State   string    `json:"state"`
	Msg     string    `json:"msg,omitempty"`
}

func (e Event) String() string {
	if e.Msg == "" {
		return e.State
	}
	return e.State + ": " + e.Msg
}

// Status is what the API shows of a service.
type Status struct {
	Name        string        `json:"name"`
	Description string        `json:"description,omitempty"`
	Source      string        `json:"source"`
	Enabled     bool          `json:"enabled"`
	State       string        `json:"state"`
	Since       time.Time     `json:"since"`
	Up          bool          `json:"up"`
	Pid         int           `json:"pid,omitempty"`
	Ready       bool          `json:"ready"`
	Health      string        `json:"health,omitempty"`       // starting, healthy, unhealthy; empty without HealthCmd
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

// ErrNotFound is returned for a name that is neither a service nor a log.
var ErrNotFound = errors.New("no such service")
