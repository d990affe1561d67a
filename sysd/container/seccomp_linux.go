package container

import (
	"fmt"
	"unsafe"

	bpfseccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// SeccompProfile is Docker's default seccomp profile (moby/profiles) as
// it applies to a container with caps: the syscalls a capability makes
// legitimate (mount with CAP_SYS_ADMIN) are allowed only with it. What it
// does not list fails with EPERM.
func SeccompProfile(caps []string) (*specs.LinuxSeccomp, error) {
	rs := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
	p, err := seccomp.GetDefaultProfile(rs)
	if err != nil {
		return nil, fmt.Errorf("seccomp: Docker's default profile: %w", err)
	}
	return p, nil
}

// seccompFilter compiles the profile for this machine's architecture, in
// pure Go: each rule becomes a group of elastic/go-seccomp-bpf's policy
// (errno rules first, as they must win over an allow of the same call).
// A rule this compiler cannot express is left out, which denies it.
func seccompFilter(p *specs.LinuxSeccomp) ([]bpf.RawInstruction, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	var errnos []bpfseccomp.SyscallGroup
	allow := bpfseccomp.SyscallGroup{Action: bpfseccomp.ActionAllow}
	for _, r := range p.Syscalls {
		var names []string
		for _, n := range r.Names {
			if _, ok := info.SyscallNames[n]; ok {
				names = append(names, n) // newer than the compiler's table: denied
			}
		}
		if len(names) == 0 {
			continue
		}
		conds, ok := seccompConditions(r.Args)
		if !ok {
			continue
		}
		g := &allow
		switch r.Action {
		case specs.ActAllow:
		case specs.ActErrno:
			errno := uint32(unix.EPERM)
			if r.ErrnoRet != nil {
				errno = uint32(*r.ErrnoRet)
			}
			errnos = append(errnos, bpfseccomp.SyscallGroup{Action: bpfseccomp.Action(unix.SECCOMP_RET_ERRNO | errno&unix.SECCOMP_RET_DATA)})
			g = &errnos[len(errnos)-1]
		default:
			continue // log, trace, notify: not used by the default profile
		}
		for _, n := range names {
			if conds == nil {
				g.Names = append(g.Names, n)
			} else {
				g.NamesWithCondtions = append(g.NamesWithCondtions, bpfseccomp.NameWithConditions{Name: n, Conditions: conds})
			}
		}
	}
	policy := bpfseccomp.Policy{DefaultAction: bpfseccomp.ActionErrno, Syscalls: append(errnos, allow)}
	insns, err := policy.Assemble()
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	// The library's errno action carries errno 0, which would make a
	// refused call look like a success: the default refuses with EPERM.
	for i, in := range insns {
		if rc, ok := in.(bpf.RetConstant); ok && rc.Val == uint32(bpfseccomp.ActionErrno) {
			insns[i] = bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)}
		}
	}
	raw, err := bpf.Assemble(insns)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	return raw, nil
}

// seccompOps maps the OCI comparisons to the compiler's. SCMP_CMP_MASKED_EQ
// is handled apart: only its "none of these bits" form has a match.
var seccompOps = map[specs.LinuxSeccompOperator]bpfseccomp.Operation{
	specs.OpEqualTo:      bpfseccomp.Equal,
	specs.OpNotEqual:     bpfseccomp.NotEqual,
	specs.OpGreaterThan:  bpfseccomp.GreaterThan,
	specs.OpGreaterEqual: bpfseccomp.GreaterOrEqual,
	specs.OpLessThan:     bpfseccomp.LessThan,
	specs.OpLessEqual:    bpfseccomp.LessOrEqual,
}

// seccompConditions converts a rule's argument checks (all must hold);
// nil when there are none, false when one cannot be expressed.
func seccompConditions(args []specs.LinuxSeccompArg) (bpfseccomp.ArgumentConditions, bool) {
	if len(args) == 0 {
		return nil, true
	}
	var out bpfseccomp.ArgumentConditions
	for _, a := range args {
		c := bpfseccomp.Condition{Argument: uint32(a.Index), Value: a.Value}
		op, ok := seccompOps[a.Op]
		switch {
		case ok:
			c.Operation = op
		case a.Op == specs.OpMaskedEqual && a.ValueTwo == 0:
			// (arg & Value) == 0: "none of these bits" is the form
			// Docker's profile uses (clone without namespaces).
			c.Operation = bpfseccomp.BitsNotSet
		default:
			return nil, false
		}
		out = append(out, c)
	}
	return out, true
}

// loadSeccomp installs the filter on every thread (TSYNC); no_new_privs
// must be set.
func loadSeccomp(raw []bpf.RawInstruction) error {
	filter := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog)))
	if errno != 0 {
		return fmt.Errorf("seccomp: load the filter: %w", errno)
	}
	return nil
}
