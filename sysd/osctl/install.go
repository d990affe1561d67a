package osctl

import (
	"flag"
	"fmt"
	"os"

	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/userdata"
	"berth.dev/berth/update"
)

// install puts Berth on a disk from the live system, through sysd (which
// has the disks; os-ctl may run in the console's container).
func (c *client) install(args []string) error {
	var req wire.InstallRequest
	var udFile string
	fs, _, err := flags("install", args, func(fs *flag.FlagSet) {
		fs.StringVar(&req.Disk, "disk", "", "")
		fs.StringVar(&udFile, "user-data", "", "")
		fs.BoolVar(&req.Force, "force", false, "")
		fs.BoolVar(&req.Reboot, "reboot", false, "")
	})
	if err != nil {
		return err
	}
	if req.Disk == "" || fs.NArg() != 0 {
		return fmt.Errorf("install: give the disk: os-ctl install --disk /dev/sda [--user-data FILE] [--force] [--reboot] (--disk largest takes the largest blank disk)")
	}
	if udFile != "" {
		// The installed machine's first boot reads it: a mistake found
		// now costs nothing, one found then may lock the admin out.
		if req.UserData, err = os.ReadFile(udFile); err != nil {
			return fmt.Errorf("install: %w", err)
		}
		ds := userdata.Parse(udFile, req.UserData, &userdata.Config{})
		for _, d := range ds {
			fmt.Fprintln(c.env.Stderr, d)
		}
		if n := len(ds.Errors()); n > 0 {
			return fmt.Errorf("install: %s has %d errors: fix them (os-ctl config validate %s); nothing was written", udFile, n, udFile)
		}
	}
	line, err := postStream(c, "install", "/v1/install", req,
		func(l *wire.InstallLine) *update.Progress { return l.Progress }, func(l *wire.InstallLine) bool { return l.Done })
	switch {
	case err != nil:
		return err
	case line.Error != "":
		return fmt.Errorf("install: %s", line.Error)
	case req.Reboot:
		fmt.Fprintf(c.env.Stdout, "installed; rebooting\n")
	default:
		fmt.Fprintf(c.env.Stdout, "installed; os-ctl reboot boots it once the medium is out (or the disk comes first in the boot order)\n")
	}
	return nil
}
