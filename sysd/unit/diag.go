// Package unit reads Berth's service definitions: systemd unit files with
// a [Container] section in the spirit of Podman's Quadlet. Values are
// deserialized by go-systemd's unit package; this package types them,
// validates them and reports each problem with file, line, key and fix.
package unit

import "fmt"

// Diagnostic is one problem found in a configuration file: a unit file
// here, user-data in package userdata.
type Diagnostic struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"` // 0 when the problem has no line
	Section string `json:"section,omitempty"`
	Key     string `json:"key,omitempty"`
	Msg     string `json:"msg"`
	Fix     string `json:"fix,omitempty"`     // what to do, when known
	Warning bool   `json:"warning,omitempty"` // what it concerns still applies; an error drops it
}

func (d Diagnostic) String() string {
	s := d.File
	if d.Line > 0 {
		s += fmt.Sprintf(":%d", d.Line)
	}
	s += ":"
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
