package osctl

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"berth.dev/berth/sysd/api/wire"
)

// hw is `os-ctl hw`: the devices the kernel lists, the driver bound to
// each, and what no driver claimed.
func (c *client) hw(args []string) error {
	var all *bool
	_, asJSON, err := flags("hw", args, func(fs *flag.FlagSet) { all = fs.Bool("all", false, "") })
	if err != nil {
		return err
	}
	var hw wire.Hardware
	raw, err := c.get("/v1/hardware", &hw)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(c.env.Stdout, raw)
	}
	w := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "BUS\tDEVICE\tDRIVER\tPROVIDES\tMODALIAS")
	var none, unbound []string
	hidden := 0
	for _, d := range hw.Devices {
		// ACPI nodes without a driver describe devices listed on their
		// own buses (or nothing a driver serves): noise, unless asked.
		if !*all && d.Bus == "acpi" && d.Driver == "" && len(d.Modules) == 0 {
			hidden++
			continue
		}
		drv := d.Driver
		if d.Class {
			drv = "(class device)"
		}
		if d.Unclaimed() {
			drv = "-"
			if len(d.Modules) == 0 {
				none = append(none, filepath.Base(d.Path))
			} else {
				drv = "- (" + strings.Join(d.Modules, ",") + " did not bind)"
				unbound = append(unbound, filepath.Base(d.Path))
			}
		}
		provides := strings.Join(d.Names, " ")
		if provides == "" {
			provides = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", d.Bus, filepath.Base(d.Path), drv, provides, d.Modalias)
	}
	w.Flush()
	fmt.Fprintf(c.env.Stdout, "\nunclaimed: %d with no driver in this image", len(none))
	if len(unbound) > 0 {
		fmt.Fprintf(c.env.Stdout, ", %d whose driver did not bind (%s)", len(unbound), strings.Join(unbound, " "))
	}
	fmt.Fprintln(c.env.Stdout)
	if hidden > 0 {
		fmt.Fprintf(c.env.Stdout, "(%d ACPI nodes without a driver not shown: --all)\n", hidden)
	}
	for _, f := range hw.Firmware {
		fmt.Fprintln(c.env.Stdout, "firmware: "+f)
	}
	return nil
}
