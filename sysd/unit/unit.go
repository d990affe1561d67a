package unit

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/unit"
)

// Unit is one service definition.
type Unit struct {
	Name string // file name, e.g. docker.service

	Description                    string
	Requires, Wants, After, Before []string
	// ConditionKernelCommandLine: every entry must match a word of
	// /proc/cmdline (WORD or KEY=VALUE; "!" negates), else the unit is
	// skipped, as in systemd.unit(5).
	ConditionKernelCommandLine []string
	// ConditionPathExists: every path must exist ("!PATH": must not),
	// checked when the units are loaded.
	ConditionPathExists []string
	// HealthGate: a new release is kept only if this service is up
	// within the gate's deadline. Unset: yes for the image's own units,
	// no for the admin's (/etc); see Required.
	HealthGate *bool

	Service   Service
	Container Container
}

// Service is the [Service] section, with systemd's names and defaults.
type Service struct {
	Type                  string // simple, notify, oneshot
	Restart               RestartPolicy
	RestartSec            time.Duration
	TimeoutStartSec       time.Duration
	TimeoutStopSec        time.Duration
	WatchdogSec           time.Duration
	StartLimitBurst       int
	StartLimitIntervalSec time.Duration
	Environment           []string // KEY=value
	EnvironmentFile       []string
	TTYPath               string // stdin/stdout/stderr on this terminal, as its controlling tty
	// MountFlags is systemd's: private (default) sees no host mount made
	// after the start; slave receives them; shared also propagates the
	// container's own mounts among its copies (what dockerd needs).
	MountFlags string
	// Delegate is systemd's: the service manages the cgroups below its
	// own (dockerd makes one per container). Its processes start in the
	// leaf group "init" below, because cgroup v2 allows no process beside
	// child groups that use controllers.
	Delegate                      bool
	MemoryMax                     int64 // bytes; -1 for infinity, 0 unset
	CPUWeight, TasksMax, IOWeight int64
}

// Volume is a Volume= mount.
type Volume struct {
	Src, Dst string
	ReadOnly bool
}

// Container is the [Container] section (Podman Quadlet's names).
type Container struct {
	Image                         string
	Exec                          []string
	Volumes                       []Volume
	Network                       string // host, none, private
	PID                           string // host, private
	UTS                           string // host (the machine's host name), private (the unit's name)
	User, Group, WorkingDir       string
	ReadOnly, Privileged, Notify  bool
	Tmpfs                         []string
	AddCapability, DropCapability []string
	HealthCmd                     []string
	HealthInterval, HealthTimeout time.Duration
	HealthStartPeriod             time.Duration
	// HealthStartInterval is Docker's --health-start-interval: how often
	// to check during the start period, so that a service is seen up soon
	// after it is, however long HealthInterval is.
	HealthStartInterval time.Duration
	HealthRetries       int
}

// Defaults are systemd's, where systemd has the setting, except
// TimeoutStopSec: 10s, as Docker's stop timeout, because PID 1 gives the
// whole shutdown 30s and a service that ignores SIGTERM (a shell script
// as its container's PID 1 does) must not use all of it.
func defaults(name string) Unit {
	return Unit{
		Name: name,
		Service: Service{
			Type: "simple", Restart: RestartNo, RestartSec: 100 * time.Millisecond, MountFlags: "private",
			TimeoutStartSec: 90 * time.Second, TimeoutStopSec: 10 * time.Second,
			StartLimitBurst: 5, StartLimitIntervalSec: 10 * time.Second,
		},
		Container: Container{
			Network: "private", PID: "private", UTS: "private",
			HealthInterval: 30 * time.Second, HealthTimeout: 30 * time.Second, HealthRetries: 3,
			HealthStartInterval: 5 * time.Second,
		},
	}
}

// Parse reads the unit file at file (a path used in messages and for the
// unit's name). It returns the unit with what was valid applied, and every
// problem; when Diagnostics.Errors() is not empty the unit must not start.
func Parse(file string, data []byte) (*Unit, Diagnostics) {
	u := defaults(path.Base(file))
	var ds Diagnostics
	add := func(line int, section, key, msg, fix string, warning bool) {
		ds = append(ds, Diagnostic{File: file, Line: line, Section: section, Key: key, Msg: msg, Fix: fix, Warning: warning})
	}
	if !strings.HasSuffix(u.Name, ".service") {
		add(1, "", "", "a service file's name must end in .service", "rename it to "+strings.TrimSuffix(u.Name, path.Ext(u.Name))+".service", false)
	}
	opts, err := unit.DeserializeOptions(bytes.NewReader(data))
	if err != nil {
		add(errorLine(data), "", "", err.Error(), "see systemd.syntax(7)", false)
		return &u, ds
	}
	lines := keyLines(data)
	seen := map[string]int{}
	sections := map[string]bool{}
	badSection := map[string]bool{}
	for _, o := range opts {
		id := o.Section + "\x00" + o.Name
		n := seen[id]
		seen[id]++
		line := 0
		if ls := lines[id]; n < len(ls) {
			line = ls[n]
		}
		sections[o.Section] = true
		keys, ok := table[o.Section]
		if !ok {
			if !badSection[o.Section] {
				badSection[o.Section] = true
				fix := "known sections: [Unit], [Service], [Container]"
				if s := Suggest(o.Section, sectionNames()); s != "" {
					fix = "did you mean [" + s + "]?"
				}
				add(headerLine(lines, o.Section), o.Section, "", "unknown section", fix, false)
			}
			continue
		}
		set, ok := keys[o.Name]
		if !ok {
			if why, ok := unsupported[o.Name]; ok {
				add(line, o.Section, o.Name, "not supported by Berth: "+why, "", true)
				continue
			}
			fix := ""
			if s := Suggest(o.Name, keyNames(o.Section)); s != "" {
				fix = "did you mean " + s + "?"
			}
			add(line, o.Section, o.Name, "unknown key", fix, false)
			continue
		}
		if err := set(&u, o.Value); err != nil {
			add(line, o.Section, o.Name, err.Error(), "", false)
		}
	}
	if u.Container.Image == "" && len(u.Container.Exec) > 0 {
		add(firstLine(lines, "Container"), "Container", "Image", "Exec= needs an Image= to run in", "add Image=NAME", false)
	}
	if !sections["Container"] && len(badSection) == 0 {
		// Without it there is nothing to run: the helper used to be
		// started with an empty command while Start reported success.
		add(1, "", "", "no [Container] section: a service runs a command in an image", "add [Container] with Image= and Exec=", false)
	}
	if sections["Container"] && len(u.Container.Exec) == 0 {
		add(firstLine(lines, "Container"), "Container", "Exec", "no command to run", "add Exec=COMMAND", false)
	}
	return &u, ds
}

// keyLines maps section\x00key to the line numbers its assignments start
// on, in file order. go-systemd's deserializer gives no positions.
func keyLines(data []byte) map[string][]int {
	out := map[string][]int{}
	section := ""
	cont := false
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		wasCont := cont
		cont = strings.HasSuffix(line, `\`)
		switch {
		case wasCont, line == "", line[0] == '#', line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
			out[section+"\x00"] = append(out[section+"\x00"], i+1)
		default:
			if k, _, ok := strings.Cut(line, "="); ok {
				id := section + "\x00" + strings.TrimSpace(k)
				out[id] = append(out[id], i+1)
			}
		}
	}
	return out
}

// headerLine is the line of the section's first header.
func headerLine(lines map[string][]int, section string) int {
	if ls := lines[section+"\x00"]; len(ls) > 0 {
		return ls[0]
	}
	return 0
}

// firstLine is the line of the section's first key.
func firstLine(lines map[string][]int, section string) int {
	best := 0
	for id, ls := range lines {
		if id != section+"\x00" && strings.HasPrefix(id, section+"\x00") && (best == 0 || ls[0] < best) {
			best = ls[0]
		}
	}
	return best
}

// errorLine finds the line a syntax error is on: the first line that is
// neither blank, comment, section header nor assignment.
func errorLine(data []byte) int {
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' && strings.HasSuffix(line, "]") || strings.Contains(line, "=") {
			continue
		}
		return i + 1
	}
	return 1
}

func sectionNames() []string {
	var out []string
	for s := range table {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func keyNames(section string) []string {
	var out []string
	for k := range table[section] {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func oneOf(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
}

// RestartPolicy is systemd's Restart=: when an ended service starts again.
type RestartPolicy string

const (
	RestartNo        RestartPolicy = "no"
	RestartOnFailure RestartPolicy = "on-failure" // after an exit other than status 0
	RestartAlways    RestartPolicy = "always"
)
