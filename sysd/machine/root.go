package machine

import (
	"fmt"
	"strings"

	"berth.dev/berth/internal/cmdline"
	"berth.dev/berth/internal/layout"
)

// RootCheck says how the running root is checked: one line for os-ctl
// status, and a problem when dm-verity has found a block that does not
// match (the kernel's status "C"; "V" while every block read matched).
// status returns the verity target's status for a device-mapper name.
func RootCheck(p cmdline.Params, status func(name string) (string, error)) (line, problem string) {
	w, ok := p.Get(layout.VerityParam)
	if !ok {
		return "NOT verified: the boot entry has no " + layout.VerityParam + " (a release made before dm-verity)", ""
	}
	v, err := layout.ParseVerity(w)
	if err != nil {
		return "unknown", fmt.Sprintf("root: kernel command line: %v", err)
	}
	st, err := status(layout.VerityDevice)
	switch f := strings.Fields(st); {
	case err != nil:
		return "unknown", fmt.Sprintf("root: dm-verity status of %s: %v", layout.VerityDevice, err)
	case len(f) > 0 && f[0] == "C":
		return "dm-verity, root hash " + v.RootHash + ": CORRUPTED BLOCKS FOUND",
			"root: dm-verity found blocks that do not match the root hash: the slot's partition no longer holds what was signed (the kernel log names them); reads of them fail"
	case len(f) > 0 && f[0] == "V":
		return "verified by dm-verity, root hash " + v.RootHash, ""
	default:
		return "unknown", fmt.Sprintf("root: dm-verity status of %s: %q is not V or C", layout.VerityDevice, st)
	}
}
