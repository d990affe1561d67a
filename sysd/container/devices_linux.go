package container

import (
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// bpf_cgroup_dev_ctx: access_type (access << 16 | type), major, minor.
const (
	devCtxAccessType = 0
	devCtxMajor      = 4
	devCtxMinor      = 8
	devTypeChar      = 2 // BPF_DEVCG_DEV_CHAR
)

// deviceProgram is the allow-list as a BPF_PROG_TYPE_CGROUP_DEVICE
// program: 1 lets the access through, 0 refuses it (EPERM).
func deviceProgram(allowed []Device) asm.Instructions {
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, devCtxAccessType, asm.Word),
		asm.And.Imm32(asm.R2, 0xffff), // the type
		asm.LoadMem(asm.R4, asm.R1, devCtxMajor, asm.Word),
		asm.LoadMem(asm.R5, asm.R1, devCtxMinor, asm.Word),
	}
	for i, d := range allowed {
		next := fmt.Sprintf("rule%d", i+1)
		insns = append(insns,
			asm.JNE.Imm(asm.R2, devTypeChar, next).WithSymbol(fmt.Sprintf("rule%d", i)),
			asm.JNE.Imm(asm.R4, int32(d.Major), next))
		if d.Minor >= 0 {
			insns = append(insns, asm.JNE.Imm(asm.R5, int32(d.Minor), next))
		}
		insns = append(insns, asm.Mov.Imm(asm.R0, 1), asm.Return())
	}
	return append(insns,
		asm.Mov.Imm(asm.R0, 0).WithSymbol(fmt.Sprintf("rule%d", len(allowed))),
		asm.Return())
}

// bpfFAllowMulti is BPF_F_ALLOW_MULTI: a program below (a container the
// service runs itself) can only narrow the list, never widen it.
const bpfFAllowMulti = 1 << 1

// restrictDevices attaches the device allow-list to the cgroup open as
// cg. The attachment is the kernel's (BPF_PROG_ATTACH, not a link): it
// lasts with the cgroup, not with sysd's descriptor. A program an earlier
// run of the service left there is detached first.
func restrictDevices(cg *os.File, allowed []Device) error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.CGroupDevice,
		Instructions: deviceProgram(allowed),
		License:      "Apache-2.0",
	})
	if err != nil {
		return fmt.Errorf("load the device program: %w", err)
	}
	defer prog.Close()
	target := int(cg.Fd())
	q, err := link.QueryPrograms(link.QueryOptions{Target: target, Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		return fmt.Errorf("query device programs of %s: %w", cg.Name(), err)
	}
	if err := link.RawAttachProgram(link.RawAttachProgramOptions{
		Target: target, Program: prog, Attach: ebpf.AttachCGroupDevice, Flags: bpfFAllowMulti,
	}); err != nil {
		return fmt.Errorf("attach the device program to %s: %w", cg.Name(), err)
	}
	for _, ap := range q.Programs {
		old, err := ebpf.NewProgramFromID(ap.ID)
		if err != nil {
			return fmt.Errorf("device program %d of %s: %w", ap.ID, cg.Name(), err)
		}
		err = link.RawDetachProgram(link.RawDetachProgramOptions{Target: target, Program: old, Attach: ebpf.AttachCGroupDevice})
		old.Close()
		if err != nil {
			return fmt.Errorf("detach device program %d of %s: %w", ap.ID, cg.Name(), err)
		}
	}
	return nil
}
