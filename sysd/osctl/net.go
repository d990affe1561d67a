package osctl

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"berth.dev/berth/sysd/api/wire"
)

// net is `os-ctl net`: links, addresses, leases, routes and DNS.
func (c *client) net(args []string) error {
	_, asJSON, err := flags("net", args, nil)
	if err != nil {
		return err
	}
	var st wire.Net
	raw, err := c.get("/v1/network", &st)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(c.env.Stdout, raw)
	}
	w := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "online: %v\n\n", st.Online)
	fmt.Fprintln(w, "LINK\tSTATE\tMODE\tMTU\tMAC\tADDRESSES\tLEASE")
	for _, l := range st.Links {
		state := "down"
		if l.Up {
			state = "up"
			if !l.Carrier {
				state = "no-carrier"
			}
		}
		lease := "-"
		if l.Lease != nil {
			lease = fmt.Sprintf("%s from %s, %s until %s", l.Lease.Address, l.Lease.Server, l.Lease.State, l.Lease.Expires.Format("15:04:05"))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", l.Name, state, l.Mode, l.MTU, l.MAC, strings.Join(l.Addresses, " "), lease)
	}
	w.Flush()
	fmt.Fprintln(c.env.Stdout, "\nroutes:")
	for _, r := range st.Routes {
		fmt.Fprintln(c.env.Stdout, "  "+r)
	}
	fmt.Fprintln(c.env.Stdout, "\nresolv.conf:")
	for _, d := range st.DNS {
		fmt.Fprintln(c.env.Stdout, "  nameserver "+d)
	}
	if len(st.Search) > 0 {
		fmt.Fprintln(c.env.Stdout, "  search "+strings.Join(st.Search, " "))
	}
	return nil
}
