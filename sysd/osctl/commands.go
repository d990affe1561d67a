package osctl

import (
	"bufio"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/update"
)

func (c *client) status(args []string) error {
	_, asJSON, err := flags("status", args, nil)
	if err != nil {
		return err
	}
	var st wire.System
	raw, err := c.get("/v1/status", &st)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(c.env.Stdout, raw)
	}
	w := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "version:\t%s\n", st.Version)
	fmt.Fprintf(w, "slot:\t%s\n", st.Slot)
	if st.Root != "" {
		fmt.Fprintf(w, "root:\t%s\n", st.Root)
	}
	if st.Storage != "" {
		fmt.Fprintf(w, "storage:\t%s\n", st.Storage)
	}
	if m := st.Swarm; m != nil {
		line := fmt.Sprintf("%s, %s", m.Role, m.State)
		if m.Problem != "" {
			line += ": not in the swarm: " + m.Problem
		}
		fmt.Fprintf(w, "swarm:\t%s\n", line)
	}
	fmt.Fprintf(w, "hostname:\t%s\n", st.Hostname)
	fmt.Fprintf(w, "machine id:\t%s\n", st.MachineID)
	fmt.Fprintf(w, "boot:\t#%d, ready in %.2fs, up %s\n", st.BootN, float64(st.BootMS)/1000, time.Since(st.Booted).Round(time.Second))
	fmt.Fprintf(w, "memory:\t%d MiB used of %d MiB\n", st.MemoryKB.Used/1024, st.MemoryKB.Total/1024)
	fmt.Fprintf(w, "services:\t%d of %d up", st.Services.Up, st.Services.Total)
	if len(st.Services.Failed) > 0 {
		fmt.Fprintf(w, ", failed: %s", strings.Join(st.Services.Failed, ", "))
	}
	fmt.Fprintln(w)
	var up update.Status
	if _, err := c.get("/v1/update", &up); err == nil {
		updateStatus(w, up, st.Slot)
	}
	for _, p := range st.Problems {
		fmt.Fprintf(w, "problem:\t%s\n", p)
	}
	return w.Flush()
}

func (c *client) service(sub string, args []string) error {
	switch sub {
	case "ls", "list":
		return c.serviceList(args)
	case "status", "show":
		return c.serviceStatus(args)
	case "start", "stop", "restart", "enable", "disable":
		var now *bool
		fs, _, err := flags("service "+sub, args, func(fs *flag.FlagSet) { now = fs.Bool("now", false, "") })
		if err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("service %s: give one service name", sub)
		}
		name := fs.Arg(0)
		if err := c.post("/v1/services/"+url.PathEscape(name)+"/"+sub, nil); err != nil {
			return fmt.Errorf("service %s %s: %w", sub, name, err)
		}
		if *now && (sub == "enable" || sub == "disable") {
			act := map[string]string{"enable": "start", "disable": "stop"}[sub]
			if err := c.post("/v1/services/"+url.PathEscape(name)+"/"+act, nil); err != nil {
				return fmt.Errorf("service %s %s: %w", act, name, err)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown service command %q (ls, status, start, stop, restart, enable, disable)", sub)
}

func (c *client) serviceList(args []string) error {
	_, asJSON, err := flags("service ls", args, nil)
	if err != nil {
		return err
	}
	var list []wire.Service
	raw, err := c.get("/v1/services", &list)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(c.env.Stdout, raw)
	}
	w := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SERVICE\tSTATE\tSINCE\tPID\tMEMORY\tNOTE")
	for _, s := range list {
		mem, pid := "-", "-"
		if s.Usage != nil {
			mem = humanBytes(s.Usage.MemoryBytes)
		}
		if s.Pid != 0 {
			pid = strconv.Itoa(s.Pid)
		}
		note := s.Status
		switch {
		case s.Waiting != "":
			note = s.Waiting
		case s.Reason != "":
			note = s.Reason
		case !s.Enabled:
			note = "disabled"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", strings.TrimSuffix(s.Name, ".service"), s.State, ago(s.Since), pid, mem, note)
	}
	return w.Flush()
}

func (c *client) serviceStatus(args []string) error {
	fs, asJSON, err := flags("service status", args, nil)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("service status: give one service name")
	}
	var s wire.Service
	raw, err := c.get("/v1/services/"+url.PathEscape(fs.Arg(0)), &s)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(c.env.Stdout, raw)
	}
	w := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "%s\t%s\n", s.Name, s.Description)
	fmt.Fprintf(w, "state:\t%s since %s\n", s.State, s.Since.Format(time.RFC3339))
	fmt.Fprintf(w, "enabled:\t%v\n", s.Enabled)
	fmt.Fprintf(w, "source:\t%s\n", s.Source)
	if s.Pid != 0 {
		fmt.Fprintf(w, "pid:\t%d\n", s.Pid)
	}
	if s.Health != "" {
		fmt.Fprintf(w, "health:\t%s\n", s.Health)
		if s.HealthError != "" {
			fmt.Fprintf(w, "last check:\t%s\n", s.HealthError)
		}
	}
	if s.Status != "" {
		fmt.Fprintf(w, "status:\t%s\n", s.Status)
	}
	if s.Waiting != "" {
		fmt.Fprintf(w, "waiting:\t%s\n", s.Waiting)
	}
	if s.Reason != "" {
		fmt.Fprintf(w, "reason:\t%s\n", s.Reason)
	}
	if s.Usage != nil {
		fmt.Fprintf(w, "memory:\t%s\n", humanBytes(s.Usage.MemoryBytes))
		fmt.Fprintf(w, "cpu:\t%.2fs\n", float64(s.Usage.CPUUsec)/1e6)
		fmt.Fprintf(w, "tasks:\t%d\n", s.Usage.Tasks)
	}
	fmt.Fprintf(w, "starts:\t%d\n", s.Starts)
	for _, p := range s.Problems {
		fmt.Fprintf(w, "problem:\t%s\n", p)
	}
	w.Flush()
	fmt.Fprintln(c.env.Stdout, "events:")
	for _, e := range s.Events {
		fmt.Fprintf(c.env.Stdout, "  %s  %s\n", e.Time.Format("15:04:05.000"), e)
	}
	return nil
}

func (c *client) logs(args []string) error {
	var follow *bool
	var n *int
	fs, asJSON, err := flags("logs", args, func(fs *flag.FlagSet) {
		follow = fs.Bool("f", false, "")
		n = fs.Int("n", 100, "")
	})
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("logs: give one name (a service, sysd or kernel)")
	}
	q := url.Values{"n": {strconv.Itoa(*n)}}
	if *follow {
		q.Set("follow", "1")
	}
	if *asJSON {
		q.Set("format", "json")
	}
	resp, err := c.env.HTTP.Get("http://sysd/v1/logs/" + url.PathEscape(fs.Arg(0)) + "?" + q.Encode())
	if err != nil {
		return fmt.Errorf("cannot reach sysd on %s: %w", c.env.Socket, unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var buf [4096]byte
		k, _ := resp.Body.Read(buf[:])
		return apiError(buf[:k], resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		fmt.Fprintln(c.env.Stdout, sc.Text())
	}
	return nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%dK", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}
