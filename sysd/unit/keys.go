package unit

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

type setter func(u *Unit, v string) error

// table lists every key Berth reads, by section.
var table = map[string]map[string]setter{
	"Unit": {
		"Description": func(u *Unit, v string) error { u.Description = v; return nil },
		"Requires":    units(func(u *Unit) *[]string { return &u.Requires }),
		"Wants":       units(func(u *Unit) *[]string { return &u.Wants }),
		"After":       units(func(u *Unit) *[]string { return &u.After }),
		"Before":      units(func(u *Unit) *[]string { return &u.Before }),
		"HealthGate": func(u *Unit, v string) error {
			b, err := ParseBool(v)
			if err == nil {
				u.HealthGate = &b
			}
			return err
		},
		"StartLimitBurst": func(u *Unit, v string) error {
			return integer(v, 0, &u.Service.StartLimitBurst)
		},
		"StartLimitIntervalSec": span(func(u *Unit) *time.Duration { return &u.Service.StartLimitIntervalSec }),
		"ConditionPathExists": func(u *Unit, v string) error {
			if v == "" {
				u.ConditionPathExists = nil
				return nil
			}
			if !strings.HasPrefix(strings.TrimPrefix(v, "!"), "/") {
				return fmt.Errorf("%q is not an absolute path", v)
			}
			u.ConditionPathExists = append(u.ConditionPathExists, v)
			return nil
		},
		"ConditionKernelCommandLine": func(u *Unit, v string) error {
			if v == "" {
				u.ConditionKernelCommandLine = nil
				return nil
			}
			u.ConditionKernelCommandLine = append(u.ConditionKernelCommandLine, v)
			return nil
		},
	},
	"Service": {
		"TTYPath":               absPath(func(u *Unit) *string { return &u.Service.TTYPath }),
		"Delegate":              boolean(func(u *Unit) *bool { return &u.Service.Delegate }),
		"MountFlags":            choice(func(u *Unit) *string { return &u.Service.MountFlags }, "private", "slave", "shared"),
		"Type":                  choice(func(u *Unit) *string { return &u.Service.Type }, "simple", "notify", "oneshot"),
		"Restart":               choice(func(u *Unit) *RestartPolicy { return &u.Service.Restart }, RestartNo, RestartOnFailure, RestartAlways),
		"RestartSec":            span(func(u *Unit) *time.Duration { return &u.Service.RestartSec }),
		"TimeoutStartSec":       span(func(u *Unit) *time.Duration { return &u.Service.TimeoutStartSec }),
		"TimeoutStopSec":        span(func(u *Unit) *time.Duration { return &u.Service.TimeoutStopSec }),
		"WatchdogSec":           span(func(u *Unit) *time.Duration { return &u.Service.WatchdogSec }),
		"StartLimitBurst":       func(u *Unit, v string) error { return integer(v, 0, &u.Service.StartLimitBurst) },
		"StartLimitIntervalSec": span(func(u *Unit) *time.Duration { return &u.Service.StartLimitIntervalSec }),
		"Environment": func(u *Unit, v string) error {
			words, err := splitWords(v)
			if err != nil {
				return err
			}
			if len(words) == 0 {
				u.Service.Environment = nil
			}
			for _, w := range words {
				if k, _, ok := strings.Cut(w, "="); !ok || k == "" {
					return fmt.Errorf("%q is not KEY=value", w)
				}
				u.Service.Environment = append(u.Service.Environment, w)
			}
			return nil
		},
		"EnvironmentFile": list(func(u *Unit) *[]string { return &u.Service.EnvironmentFile }),
		"MemoryMax": func(u *Unit, v string) error {
			n, err := ParseBytes(v)
			if err != nil {
				return err
			}
			u.Service.MemoryMax = n
			return nil
		},
		"CPUWeight": weight(func(u *Unit) *int64 { return &u.Service.CPUWeight }, 1, 10000),
		"IOWeight":  weight(func(u *Unit) *int64 { return &u.Service.IOWeight }, 1, 10000),
		"TasksMax":  weight(func(u *Unit) *int64 { return &u.Service.TasksMax }, 1, 1<<22),
	},
	"Container": {
		"Image":      str(func(u *Unit) *string { return &u.Container.Image }),
		"User":       str(func(u *Unit) *string { return &u.Container.User }),
		"Group":      str(func(u *Unit) *string { return &u.Container.Group }),
		"WorkingDir": absPath(func(u *Unit) *string { return &u.Container.WorkingDir }),
		"Exec":       command(func(u *Unit) *[]string { return &u.Container.Exec }),
		"Volume": func(u *Unit, v string) error {
			f := strings.Split(v, ":")
			if len(f) < 2 || len(f) > 3 || !strings.HasPrefix(f[1], "/") || f[0] == "" {
				return fmt.Errorf("%q is not SOURCE:/DESTINATION[:ro]", v)
			}
			vol := Volume{Src: f[0], Dst: f[1]}
			if len(f) == 3 {
				if err := oneOf(f[2], "ro", "rw"); err != nil {
					return err
				}
				vol.ReadOnly = f[2] == "ro"
			}
			u.Container.Volumes = append(u.Container.Volumes, vol)
			return nil
		},
		"Network":        choice(func(u *Unit) *string { return &u.Container.Network }, "host", "none", "private"),
		"PID":            choice(func(u *Unit) *string { return &u.Container.PID }, "host", "private"),
		"UTS":            choice(func(u *Unit) *string { return &u.Container.UTS }, "host", "private"),
		"ReadOnly":       boolean(func(u *Unit) *bool { return &u.Container.ReadOnly }),
		"Privileged":     boolean(func(u *Unit) *bool { return &u.Container.Privileged }),
		"Notify":         boolean(func(u *Unit) *bool { return &u.Container.Notify }),
		"Tmpfs":          list(func(u *Unit) *[]string { return &u.Container.Tmpfs }),
		"AddCapability":  caps(func(u *Unit) *[]string { return &u.Container.AddCapability }),
		"DropCapability": caps(func(u *Unit) *[]string { return &u.Container.DropCapability }),
		"HealthCmd":      command(func(u *Unit) *[]string { return &u.Container.HealthCmd }),
		// 0 would run checks back to back, or time every check out.
		"HealthInterval":      spanAtLeast(100*time.Millisecond, func(u *Unit) *time.Duration { return &u.Container.HealthInterval }),
		"HealthTimeout":       spanAtLeast(100*time.Millisecond, func(u *Unit) *time.Duration { return &u.Container.HealthTimeout }),
		"HealthStartPeriod":   span(func(u *Unit) *time.Duration { return &u.Container.HealthStartPeriod }),
		"HealthStartInterval": spanAtLeast(100*time.Millisecond, func(u *Unit) *time.Duration { return &u.Container.HealthStartInterval }),
		"HealthRetries":       func(u *Unit, v string) error { return integer(v, 1, &u.Container.HealthRetries) },
	},
}

// unsupported are systemd or Quadlet keys Berth knows but does not do.
var unsupported = map[string]string{
	"ExecStart":     "services run in containers: use Exec= in [Container]",
	"ExecStartPre":  "use a oneshot service ordered before this one",
	"PrivateTmp":    "containers always have their own /tmp",
	"PublishPort":   "system containers use Network=host or private",
	"ContainerName": "the container is named after the unit",
	"Pod":           "pods are not supported",
}

func str(f func(*Unit) *string) setter {
	return func(u *Unit, v string) error { *f(u) = v; return nil }
}

// choice accepts one of the allowed values.
func choice[T ~string](f func(*Unit) *T, allowed ...T) setter {
	words := make([]string, len(allowed))
	for i, a := range allowed {
		words[i] = string(a)
	}
	return func(u *Unit, v string) error {
		if err := oneOf(v, words...); err != nil {
			return err
		}
		*f(u) = T(v)
		return nil
	}
}

func absPath(f func(*Unit) *string) setter {
	return func(u *Unit, v string) error {
		if !strings.HasPrefix(v, "/") {
			return fmt.Errorf("%q is not an absolute path", v)
		}
		*f(u) = v
		return nil
	}
}

func span(f func(*Unit) *time.Duration) setter { return spanAtLeast(0, f) }

func spanAtLeast(min time.Duration, f func(*Unit) *time.Duration) setter {
	return func(u *Unit, v string) error {
		d, err := ParseTimespan(v)
		if err != nil {
			return err
		}
		if d < min {
			return fmt.Errorf("%q is shorter than %v", v, min)
		}
		*f(u) = d
		return nil
	}
}

func boolean(f func(*Unit) *bool) setter {
	return func(u *Unit, v string) error {
		b, err := ParseBool(v)
		if err != nil {
			return err
		}
		*f(u) = b
		return nil
	}
}

func weight(f func(*Unit) *int64, lo, hi int64) setter {
	return func(u *Unit, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%q is not a whole number from %d to %d", v, lo, hi)
		}
		*f(u) = n
		return nil
	}
}

func integer(v string, lo int, dst *int) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo {
		return fmt.Errorf("%q is not a whole number of at least %d", v, lo)
	}
	*dst = n
	return nil
}

// command is a command line: the last assignment wins.
func command(f func(*Unit) *[]string) setter {
	return func(u *Unit, v string) error {
		words, err := splitWords(v)
		if err != nil {
			return err
		}
		*f(u) = words
		return nil
	}
}

// list appends the words of v; an empty value resets the list (systemd).
func list(f func(*Unit) *[]string) setter {
	return func(u *Unit, v string) error {
		if strings.TrimSpace(v) == "" {
			*f(u) = nil
			return nil
		}
		*f(u) = append(*f(u), strings.Fields(v)...)
		return nil
	}
}

// units is a list of unit names.
func units(f func(*Unit) *[]string) setter {
	l := list(f)
	return func(u *Unit, v string) error {
		for _, w := range strings.Fields(v) {
			if !strings.Contains(w, ".") {
				return fmt.Errorf("%q is not a unit name (write %s.service)", w, w)
			}
		}
		return l(u, v)
	}
}

// caps is a list of capability names; "CAP_" may be left out.
func caps(f func(*Unit) *[]string) setter {
	return func(u *Unit, v string) error {
		for _, w := range strings.Fields(v) {
			c := strings.ToUpper(w)
			if !strings.HasPrefix(c, "CAP_") {
				c = "CAP_" + c
			}
			if !knownCaps[c] && c != "CAP_ALL" {
				return fmt.Errorf("%q is not a Linux capability", w)
			}
			*f(u) = append(*f(u), c)
		}
		return nil
	}
}

// Capabilities lists Linux's capabilities by number: CAP_CHOWN is 0.
var Capabilities = func() []string {
	var l []string
	for _, c := range strings.Fields(`CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID
		SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER
		SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE
		SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN
		SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE`) {
		l = append(l, "CAP_"+c)
	}
	return l
}()

var knownCaps = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range Capabilities {
		m[c] = true
	}
	return m
}()

// splitWords splits a command line or an Environment= value into words:
// white space separates, double or single quotes group, backslash escapes.
func splitWords(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	var quote rune
	have, esc := false, false
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\':
			esc, have = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, have = r, true
		case r == ' ' || r == '\t':
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, s)
	}
	if have {
		out = append(out, cur.String())
	}
	return out, nil
}
