// Package cgroup manages one cgroup v2 directory per service under a
// subtree of its own: limits written from the unit, the directory handed
// to clone(CLONE_INTO_CGROUP) so a service never runs outside it, usage
// read back for the API, and cgroup.kill to end everything in it at once.
package cgroup

// Usage is what the group uses now.
type Usage struct {
	MemoryBytes int64 `json:"memory_bytes"`
	CPUUsec     int64 `json:"cpu_usec"`
	Tasks       int64 `json:"tasks"`
	OOMKills    int64 `json:"oom_kills"`
}
