// Package early describes the early file system as data: directories,
// mounts and symlinks that PID 1 creates, each printable and each either
// required or optional.
package early

import (
	"errors"
	"fmt"
	"strings"
)

// Step is one thing to create before anything else runs.
type Step interface {
	Create() error
	String() string
}

// Optional wraps a step whose failure is reported but does not stop boot.
type Optional struct{ Step }

func (o Optional) String() string { return o.Step.String() + " (optional)" }

// IfExists runs Step only when Path exists (efivarfs only on EFI boots).
type IfExists struct {
	Path string
	Step
}

func (i IfExists) String() string { return i.Step.String() + " (if " + i.Path + " exists)" }

// Dir is a directory created with its parents.
type Dir struct {
	Path string
	Mode uint32
}

func (d Dir) String() string { return fmt.Sprintf("mkdir %s (%#o)", d.Path, d.Mode) }

// Mount mounts Source on Target; Target is created first. Data holds the
// file system options, Flags the MS_* flags.
type Mount struct {
	Source, Target, FSType, Data string
	Flags                        uintptr
}

func (m Mount) String() string {
	s := fmt.Sprintf("mount -t %s %s %s", m.FSType, m.Source, m.Target)
	if m.Data != "" {
		s += " -o " + m.Data
	}
	return s
}

// Symlink makes Link point at Target.
type Symlink struct{ Target, Link string }

func (s Symlink) String() string { return fmt.Sprintf("ln -s %s %s", s.Target, s.Link) }

// Write writes Content to a file (a sysctl, for example).
type Write struct {
	Path, Content string
}

func (w Write) String() string {
	return fmt.Sprintf("echo %q > %s", strings.TrimSpace(w.Content), w.Path)
}

// Run creates the steps in order. It goes on past failures and returns
// every failure of a required step joined; optional failures go to warn.
func Run(steps []Step, warn func(string)) error {
	var errs []error
	for _, s := range steps {
		err := s.Create()
		if err == nil {
			continue
		}
		if _, ok := s.(Optional); ok {
			warn(fmt.Sprintf("%s: %v", s, err))
			continue
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// MakeShared makes every mount at and below Path a shared one, as systemd
// does for /: a container started with MountFlags=slave then receives
// the mounts the host makes later (an image sysd loop-mounts on demand).
type MakeShared struct{ Path string }

func (m MakeShared) String() string { return "mount --make-rshared " + m.Path }
