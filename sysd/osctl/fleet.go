package osctl

import (
	"fmt"
	"text/tabwriter"
	"time"

	"berth.dev/berth/sysd/api/wire"
)

// fleet is `os-ctl fleet status|unlock`: the swarm this machine is in,
// as a manager sees it, and the admin's word on a held reboot slot.
func (c *client) fleet(args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "status":
		return c.fleetStatus(args[1:])
	case "unlock":
		if len(args) != 2 {
			return errUsage
		}
		if err := c.postJSON("/v1/fleet/unlock", wire.FleetUnlock{MachineID: args[1]}, nil); err != nil {
			return fmt.Errorf("fleet unlock %s: %w", args[1], err)
		}
		fmt.Fprintf(c.env.Stdout, "%s's reboot slot is free\n", args[1])
		return nil
	}
	return errUsage
}

func (c *client) fleetStatus(args []string) error {
	_, asJSON, err := flags("fleet status", args, nil)
	if err != nil {
		return err
	}
	var f wire.Fleet
	raw, err := c.get("/v1/fleet", &f)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(c.env.Stdout, raw)
	}
	printFleet(c.env.Stdout, f)
	return nil
}

func printFleet(out interface{ Write([]byte) (int, error) }, f wire.Fleet) {
	m := f.Member
	line := fmt.Sprintf("this machine: %s, %s", m.Role, m.State)
	if m.Manager {
		line += " (manager)"
	}
	if m.Problem != "" {
		line += fmt.Sprintf(": %s (since %s)", m.Problem, m.Since.Format(time.RFC3339))
	}
	fmt.Fprintln(out, line)
	if f.Problem != "" {
		fmt.Fprintln(out, f.Problem)
		return
	}
	holds := map[string]wire.FleetHolder{}
	for _, h := range f.Holders {
		holds[h.MachineID] = h
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "HOSTNAME\tROLE\tSTATE\tAVAILABILITY\tVERSION\tREBOOT SLOT\tMACHINE ID")
	for _, n := range f.Nodes {
		role := n.Role
		if n.Leader {
			role += " (leader)"
		}
		slot := "-"
		if h, ok := holds[n.MachineID]; ok && n.MachineID != "" {
			slot = "since " + h.Since.Format(time.RFC3339)
			if h.Overdue {
				slot += " (overdue)"
			}
			delete(holds, n.MachineID)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Hostname, role, n.State, n.Availability, orDash(n.Version), slot, orDash(n.MachineID))
	}
	w.Flush()
	// Holders no node shows (a machine removed while it held a slot).
	for _, h := range holds {
		fmt.Fprintf(out, "reboot slot held by %s (no node) since %s\n", h.MachineID, h.Since.Format(time.RFC3339))
	}
	if f.Halted != "" {
		fmt.Fprintf(out, "rollout halted: %s\n", f.Halted)
	} else if len(f.Holders) == 0 {
		fmt.Fprintln(out, "rollout: no machine holds a reboot slot")
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
