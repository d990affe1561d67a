package osctl

import (
	"fmt"
	"os"

	"berth.dev/berth/sysd/userdata"
)

// config is `os-ctl config validate FILE` (the parser sysd uses, so the
// same messages, on any host) and `os-ctl config show` (the user-data in
// force, with its source and problems).
func (c *client) config(args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "validate":
		if len(args) != 2 {
			return fmt.Errorf("config validate: give one file")
		}
		data, err := os.ReadFile(args[1])
		if err != nil {
			return fmt.Errorf("config validate: %w", err)
		}
		ds := userdata.Parse(args[1], data, &userdata.Config{})
		for _, d := range ds {
			fmt.Fprintln(c.env.Stdout, d)
		}
		if n := len(ds.Errors()); n > 0 {
			return fmt.Errorf("config validate: %s: %d errors (the keys with errors would not be applied)", args[1], n)
		}
		fmt.Fprintf(c.env.Stdout, "%s: valid (%d warnings)\n", args[1], len(ds))
		return nil
	case "show":
		var v any
		raw, err := c.get("/v1/config", &v)
		if err != nil {
			return err
		}
		return printJSON(c.env.Stdout, raw)
	}
	return fmt.Errorf("unknown config command %q (validate, show)", args[0])
}
