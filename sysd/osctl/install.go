package osctl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/userdata"
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
	body, _ := json.Marshal(req)
	resp, err := c.env.HTTP.Post("http://sysd/v1/install", "application/json", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("cannot reach sysd on %s: %w", c.env.Socket, unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("install: %w", apiError(b, resp.Status))
	}
	show := newProgressView(c.env.Stdout)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var line wire.InstallLine
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return fmt.Errorf("install: sysd said %q: %w", sc.Text(), err)
		}
		if line.Progress != nil {
			show.progress(*line.Progress)
		}
		if !line.Done {
			continue
		}
		show.end()
		if line.Error != "" {
			return fmt.Errorf("install: %s", line.Error)
		}
		if !req.Reboot {
			fmt.Fprintf(c.env.Stdout, "installed; os-ctl reboot boots it once the medium is out (or the disk comes first in the boot order)\n")
			return nil
		}
		fmt.Fprintf(c.env.Stdout, "installed; rebooting\n")
		return nil
	}
	show.end()
	if err := sc.Err(); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	return fmt.Errorf("install: sysd ended the answer early (is it restarting?)")
}
