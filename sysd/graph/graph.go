// Package graph orders services as systemd does: After= and Before= order
// starts (and reverse stops); Requires= and Wants= pull units in but do not
// order them. Independent services share a level and start in parallel.
package graph

import (
	"fmt"
	"sort"
	"strings"
)

// Node is what the graph needs of a unit.
type Node struct {
	Name                           string
	Requires, Wants, After, Before []string
}

// CycleError names the units of an ordering cycle, first one repeated at
// the end: "a.service → b.service → a.service".
type CycleError struct{ Units []string }

func (e *CycleError) Error() string {
	return "ordering cycle: " + strings.Join(e.Units, " → ") + " (remove one After= or Before= of these)"
}

// MissingError is a Requires= on a unit that does not exist.
type MissingError struct{ Unit, Requires string }

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s requires %s, which is not defined", e.Unit, e.Requires)
}

// Levels returns the start order: each level's units depend only on units
// of earlier levels; names are sorted within a level. Stopping goes through
// the levels backwards. Ordering against a unit that is not defined is
// ignored (systemd does the same); Requires= of one is an error.
func Levels(nodes []Node) ([][]string, error) {
	byName := map[string]Node{}
	for _, n := range nodes {
		byName[n.Name] = n
	}
	after := map[string]map[string]bool{} // unit → units it starts after
	for _, n := range nodes {
		after[n.Name] = map[string]bool{}
	}
	for _, n := range nodes {
		for _, r := range n.Requires {
			if _, ok := byName[r]; !ok {
				return nil, &MissingError{n.Name, r}
			}
		}
		for _, a := range n.After {
			if _, ok := byName[a]; ok {
				after[n.Name][a] = true
			}
		}
		for _, b := range n.Before {
			if _, ok := byName[b]; ok {
				after[b][n.Name] = true
			}
		}
	}
	if c := findCycle(after); c != nil {
		return nil, &CycleError{c}
	}
	level := map[string]int{}
	var depth func(string) int
	depth = func(u string) int {
		if d, ok := level[u]; ok {
			return d
		}
		d := 0
		for a := range after[u] {
			d = max(d, depth(a)+1)
		}
		level[u] = d
		return d
	}
	var out [][]string
	for _, n := range nodes {
		d := depth(n.Name)
		for len(out) <= d {
			out = append(out, nil)
		}
		out[d] = append(out[d], n.Name)
	}
	for _, l := range out {
		sort.Strings(l)
	}
	return out, nil
}

// findCycle returns one cycle of the "starts after" relation, or nil.
func findCycle(after map[string]map[string]bool) []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var cycle []string
	var visit func(string) bool
	visit = func(u string) bool {
		color[u] = grey
		stack = append(stack, u)
		for _, a := range sortedKeys(after[u]) {
			switch color[a] {
			case grey:
				i := len(stack) - 1
				for stack[i] != a {
					i--
				}
				cycle = append(append([]string(nil), stack[i:]...), a)
				return true
			case white:
				if visit(a) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[u] = black
		return false
	}
	for _, u := range sortedKeys(after) {
		if color[u] == white && visit(u) {
			return cycle
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
