package service

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"berth.dev/berth/internal/cmdline"
	"berth.dev/berth/sysd/graph"
	"berth.dev/berth/sysd/unit"
)

// Definition is one loaded unit file.
type Definition struct {
	Unit   *unit.Unit
	Source string
	Diags  unit.Diagnostics
	// Invalid says why the unit must not start (errors in the file, an
	// ordering cycle, a missing requirement); empty when it may.
	Invalid string
	// HealthGate: the unit's HealthGate=, by default true for the units
	// of the first directory (the image's), false for the others.
	HealthGate bool
}

// Load reads *.service from dirs; a file in a later dir replaces the one
// of the same name in an earlier dir (/etc over /usr/lib, as in systemd).
// Problems of one file never stop the others from loading.
func Load(dirs []string) (map[string]*Definition, error) {
	files := map[string]string{}
	shipped := map[string]bool{}
	for i, dir := range dirs {
		ents, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read service directory %s: %w", dir, err)
		}
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".service") {
				files[e.Name()] = filepath.Join(dir, e.Name())
				shipped[e.Name()] = i == 0
			}
		}
	}
	defs := map[string]*Definition{}
	for name, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			defs[name] = &Definition{Unit: &unit.Unit{Name: name}, Source: p, Invalid: err.Error()}
			continue
		}
		u, ds := unit.Parse(p, data)
		d := &Definition{Unit: u, Source: p, Diags: ds, HealthGate: shipped[name]}
		if u.HealthGate != nil {
			d.HealthGate = *u.HealthGate
		}
		if errs := ds.Errors(); len(errs) > 0 {
			d.Invalid = errs[0].String()
			if len(errs) > 1 {
				d.Invalid += fmt.Sprintf(" (and %d more)", len(errs)-1)
			}
		}
		defs[name] = d
	}
	order(defs)
	return defs, nil
}

// order marks the units of an ordering cycle and those requiring a unit
// that is not defined (or not valid) as invalid, until the rest orders.
func order(defs map[string]*Definition) {
	for {
		var nodes []graph.Node
		for _, name := range sortedNames(defs) {
			d := defs[name]
			if d.Invalid != "" {
				continue
			}
			u := d.Unit
			nodes = append(nodes, graph.Node{Name: u.Name, Requires: u.Requires, Wants: u.Wants, After: u.After, Before: u.Before})
		}
		_, err := graph.Levels(nodes)
		var cycle *graph.CycleError
		var missing *graph.MissingError
		switch {
		case errors.As(err, &cycle):
			for _, n := range cycle.Units {
				defs[n].Invalid = cycle.Error()
			}
		case errors.As(err, &missing):
			why := missing.Error()
			if _, ok := defs[missing.Requires]; ok {
				why = fmt.Sprintf("%s requires %s, which is not valid", missing.Unit, missing.Requires)
			}
			defs[missing.Unit].Invalid = why
		default:
			return
		}
	}
}

// StopOrder returns the valid units in the order to stop them: the
// reverse of the start levels.
func StopOrder(defs map[string]*Definition) [][]string {
	var nodes []graph.Node
	for _, name := range sortedNames(defs) {
		if d := defs[name]; d.Invalid == "" {
			u := d.Unit
			nodes = append(nodes, graph.Node{Name: u.Name, After: u.After, Before: u.Before})
		}
	}
	levels, _ := graph.Levels(nodes)
	for i, j := 0, len(levels)-1; i < j; i, j = i+1, j-1 {
		levels[i], levels[j] = levels[j], levels[i]
	}
	return levels
}

// afterSet is every unit u waits for: its After= and the units that name
// it in Before=.
func afterSet(defs map[string]*Definition, u *unit.Unit) []string {
	set := map[string]bool{}
	for _, a := range u.After {
		set[a] = true
	}
	for _, d := range defs {
		for _, b := range d.Unit.Before {
			if b == u.Name {
				set[d.Unit.Name] = true
			}
		}
	}
	var out []string
	for a := range set {
		if _, ok := defs[a]; ok {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

func sortedNames(defs map[string]*Definition) []string {
	var names []string
	for n := range defs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ConditionsHold evaluates a unit's Condition*= entries:
// ConditionPathExists= paths, then ConditionKernelCommandLine= entries
// against the kernel command line (a bare word matches itself or
// WORD=anything; "!" negates), as systemd does. The reason says which
// does not hold.
func ConditionsHold(u *unit.Unit, line string) (bool, string) {
	for _, p := range u.ConditionPathExists {
		neg := strings.HasPrefix(p, "!")
		_, err := os.Stat(strings.TrimPrefix(p, "!"))
		if (err == nil) == neg {
			return false, "ConditionPathExists=" + p + " does not hold"
		}
	}
	params := cmdline.Parse(line)
	for _, c := range u.ConditionKernelCommandLine {
		neg := strings.HasPrefix(c, "!")
		if params.Has(strings.TrimPrefix(c, "!")) == neg {
			return false, "ConditionKernelCommandLine=" + c + " does not hold"
		}
	}
	return true, ""
}
