package wire

import "time"

// Fleet is GET /v1/fleet: this machine's place in its swarm and, from a
// manager, the whole fleet and its reboot slots.
type Fleet struct {
	Member FleetMember `json:"member"`
	// What a manager said (empty when none answered: Problem says why).
	Nodes   []FleetNode   `json:"nodes,omitempty"`
	Holders []FleetHolder `json:"holders,omitempty"`
	// Halted says why a rollout does not go on: a holder past its
	// reboot_timeout.
	Halted  string `json:"halted,omitempty"`
	From    string `json:"from,omitempty"` // the manager that answered
	Problem string `json:"problem,omitempty"`
}

// FleetMember is this machine's membership.
type FleetMember struct {
	Role    string `json:"role,omitempty"` // what user-data asks for; empty: no berth.swarm
	State   string `json:"state"`          // Docker's: inactive, pending, active, error, locked
	NodeID  string `json:"node_id,omitempty"`
	Manager bool   `json:"manager,omitempty"` // it takes part in the swarm's Raft
	// Problem says why it is not (yet) in the swarm it was asked to be in.
	Problem string    `json:"problem,omitempty"`
	Since   time.Time `json:"since,omitzero"`
}

// FleetNode is a node of the swarm.
type FleetNode struct {
	ID           string `json:"id"`
	Hostname     string `json:"hostname"`
	MachineID    string `json:"machine_id,omitempty"`
	Version      string `json:"version,omitempty"` // Berth's
	Role         string `json:"role"`              // manager, worker
	Leader       bool   `json:"leader,omitempty"`
	State        string `json:"state"`        // ready, down, unknown
	Availability string `json:"availability"` // active, pause, drain
	Addr         string `json:"addr,omitempty"`
}

// FleetHolder is a machine holding a reboot slot.
type FleetHolder struct {
	MachineID string    `json:"machine_id"`
	Group     string    `json:"group"`
	Since     time.Time `json:"since"`
	Hostname  string    `json:"hostname,omitempty"`
	Overdue   bool      `json:"overdue,omitempty"`
}

// FleetUnlock is POST /v1/fleet/unlock's body.
type FleetUnlock struct {
	MachineID string `json:"machine_id"`
}
