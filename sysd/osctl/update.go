package osctl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/update"
)

// upgrade runs an update in sysd and shows its progress: a bar on a
// terminal, a line per step otherwise.
func (c *client) upgrade(args []string) error {
	var opt update.Options
	_, _, err := flags("upgrade", args, func(fs *flag.FlagSet) {
		fs.StringVar(&opt.Channel, "channel", "", "")
		fs.StringVar(&opt.Version, "version", "", "")
		fs.BoolVar(&opt.NoReboot, "no-reboot", false, "")
		fs.BoolVar(&opt.AllowDowngrade, "allow-downgrade", false, "")
		fs.BoolVar(&opt.DryRun, "dry-run", false, "")
		fs.BoolVar(&opt.DownloadOnly, "download-only", false, "")
	})
	if err != nil {
		return err
	}
	line, err := postStream(c, "upgrade", "/v1/update", opt,
		func(l *wire.UpgradeLine) *update.Progress { return l.Progress }, func(l *wire.UpgradeLine) bool { return l.Done })
	if err != nil {
		return err
	}
	a := line.Attempt
	switch {
	case line.Error != "":
		return fmt.Errorf("upgrade: %s", line.Error)
	case opt.DryRun:
		fmt.Fprintf(c.env.Stdout, "would install %s into slot %s (dry run): would fetch %s, reuse %s from this machine\n",
			a.To.Version, a.To.Slot, humanBytes(a.Fetch), humanBytes(a.Reused))
	case a.Result == update.ResultDownloaded:
		fmt.Fprintf(c.env.Stdout, "%s downloaded and verified; os-ctl upgrade installs it\n", a.To.Version)
	case a.Result == update.ResultInstalled:
		fmt.Fprintf(c.env.Stdout, "%s installed in slot %s; it boots at the next reboot (os-ctl reboot)\n", a.To.Version, a.To.Slot)
	default:
		fmt.Fprintf(c.env.Stdout, "%s installed in slot %s; rebooting\n", a.To.Version, a.To.Slot)
	}
	return nil
}

// postStream posts body to path and shows the progress of sysd's NDJSON
// answer (POST /v1/update, /v1/install) until its last line, which it
// returns; op names the command in errors.
func postStream[L any](c *client, op, path string, body any, progress func(*L) *update.Progress, done func(*L) bool) (L, error) {
	var last L
	raw, _ := json.Marshal(body)
	resp, err := c.env.HTTP.Post("http://sysd"+path, "application/json", bytes.NewReader(raw))
	if err != nil {
		return last, fmt.Errorf("cannot reach sysd on %s: %w", c.env.Socket, unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		return last, fmt.Errorf("%s: %w", op, apiError(b, resp.Status))
	}
	show := newProgressView(c.env.Stdout)
	defer show.end()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var l L
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return last, fmt.Errorf("%s: sysd said %q: %w", op, sc.Text(), err)
		}
		if p := progress(&l); p != nil {
			show.progress(*p)
		}
		if done(&l) {
			return l, nil
		}
	}
	if err := sc.Err(); err != nil {
		return last, fmt.Errorf("%s: %w", op, err)
	}
	return last, fmt.Errorf("%s: sysd ended the answer early (is it restarting?)", op)
}

// progressView prints progress: a line per step, and on a terminal a
// bar for byte counts, redrawn in place.
type progressView struct {
	w        io.Writer
	tty      bool
	last     string // stage+msg of the last line printed
	bar      bool   // a bar is on the current line
	lastPct  int64
	lastDraw time.Time
}

func newProgressView(w io.Writer) *progressView {
	v := &progressView{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		v.tty = true
	}
	return v
}

func (v *progressView) progress(p update.Progress) {
	if p.Total == 0 {
		v.end()
		if p.Stage == "paused" {
			fmt.Fprintf(v.w, "paused at %s\n", p.Msg)
			return
		}
		fmt.Fprintf(v.w, "%s: %s\n", p.Stage, p.Msg)
		return
	}
	key := p.Stage + " " + p.Msg
	pct := p.Done * 100 / p.Total
	if v.tty {
		if time.Since(v.lastDraw) < 100*time.Millisecond && p.Done != p.Total {
			return
		}
		v.lastDraw = time.Now()
		const width = 30
		n := int(pct * width / 100)
		fmt.Fprintf(v.w, "\r%-8s %-10s [%s%s] %3d%% %s", p.Stage, p.Msg, strings.Repeat("#", n), strings.Repeat(".", width-n), pct, mib(p))
		v.bar = true
		return
	}
	// Not a terminal: a line at every quarter.
	if key != v.last {
		v.last, v.lastPct = key, -1
	}
	if q := pct / 25 * 25; q != v.lastPct {
		v.lastPct = q
		fmt.Fprintf(v.w, "%s %s: %d%% %s\n", p.Stage, p.Msg, pct, mib(p))
	}
}

func (v *progressView) end() {
	if v.bar {
		fmt.Fprintln(v.w)
		v.bar = false
	}
}

// mib is a progress line's byte counts: done of total and, while chunks
// are fetched, what the machine had already.
func mib(p update.Progress) string {
	s := fmt.Sprintf("%.1f/%.1f MiB", float64(p.Done)/(1<<20), float64(p.Total)/(1<<20))
	if p.Reused > 0 {
		s += fmt.Sprintf(", %.1f MiB reused", float64(p.Reused)/(1<<20))
	}
	return "(" + s + ")"
}

func (c *client) rollback(args []string) error {
	if len(args) != 0 {
		return errUsage
	}
	var to update.SlotRelease
	if err := c.post("/v1/update/rollback", &to); err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	fmt.Fprintf(c.env.Stdout, "rolling back to %s; rebooting\n", to)
	return nil
}

func (c *client) channel(args []string) error {
	if len(args) == 2 && args[0] == "set" {
		body, _ := json.Marshal(wire.ChannelRequest{Channel: args[1]})
		req, _ := http.NewRequest(http.MethodPut, "http://sysd/v1/update/channel", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.env.HTTP.Do(req)
		if err != nil {
			return fmt.Errorf("cannot reach sysd on %s: %w", c.env.Socket, unwrapURL(err))
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			return fmt.Errorf("channel set: %w", apiError(b, resp.Status))
		}
		fmt.Fprintf(c.env.Stdout, "channel: %s (os-ctl upgrade takes its release)\n", args[1])
		return nil
	}
	if len(args) != 0 {
		return errUsage
	}
	var st update.Status
	if _, err := c.get("/v1/update", &st); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "%s (%s)\n", st.Channel, st.From)
	return nil
}

// updateStatus adds the updater's lines to os-ctl status.
func updateStatus(w *tabwriter.Writer, st update.Status, running string) {
	server := st.Server
	if server == "" {
		server = "none (berth.update.server)"
	}
	fmt.Fprintf(w, "channel:\t%s (%s), server %s, strategy %s\n", st.Channel, st.From, server, st.Strategy)
	for _, s := range st.Slots {
		if s.Slot == running {
			continue
		}
		v := s.Version
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(w, "other slot:\t%s: %s, %s\n", s.Slot, v, s.State)
	}
	if st.Running {
		fmt.Fprintf(w, "update:\trunning\n")
	}
	if a := st.Last; a != nil {
		what := a.Kind
		if what == "" {
			what = "update"
		}
		line := fmt.Sprintf("%s %s → %s at %s: %s", what, a.From, a.To, a.Started.Local().Format("2006-01-02 15:04:05"), a.Result)
		if a.Result == update.ResultFailed || a.Result == update.ResultRolledBack {
			line += " (stage " + a.Stage + ")"
		}
		if a.Reason != "" {
			line += ": " + a.Reason
		}
		if a.Kind != "rollback" && (a.Downloaded > 0 || a.Reused > 0) {
			line += fmt.Sprintf(" (fetched %s, reused %s)", humanBytes(a.Downloaded), humanBytes(a.Reused))
		}
		fmt.Fprintf(w, "last update:\t%s\n", line)
	}
	for _, p := range st.Problems {
		fmt.Fprintf(w, "problem:\tupdate: %s\n", p)
	}
}
