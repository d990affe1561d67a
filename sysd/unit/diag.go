// Package unit reads Berth's service definitions: systemd unit files with
// a [Container] section in the spirit of Podman's Quadlet. Values are
// deserialized by go-systemd's unit package; this package types them,
// validates them and reports each problem with file, line, key and fix.
package unit

import "fmt"

// Diagnostic is one problem found in a unit file.
type Diagnostic struct {
	File    string
	Line    int
	Section string
	Key     string
	Msg     string
	Fix     string // what to do, when known
	Warning bool   // the unit still runs; an error means it is not started
}

func (d Diagnostic) String() string {
	s := fmt.Sprintf("%s:%d:", d.File, d.Line)
	if d.Section != "" {
		s += fmt.Sprintf(" [%s]", d.Section)
	}
	if d.Key != "" {
		s += " " + d.Key + ":"
	}
	if d.Warning {
		s += " warning:"
	}
	s += " " + d.Msg
	if d.Fix != "" {
		s += " (" + d.Fix + ")"
	}
	return s
}

// Diagnostics is every problem of one file.
type Diagnostics []Diagnostic

// Errors returns the diagnostics that stop the unit from starting.
func (ds Diagnostics) Errors() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if !d.Warning {
			out = append(out, d)
		}
	}
	return out
}
