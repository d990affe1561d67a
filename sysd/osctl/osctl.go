// Package osctl is the os-ctl command: the admin's client of sysd's API,
// with human tables by default and --json on every read command.
package osctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"berth.dev/berth/sysd/api/wire"
)

// Env is everything os-ctl touches, so tests drive it in-process.
type Env struct {
	Args           []string // without the program name
	Stdout, Stderr io.Writer
	Socket         string // sysd's API socket
	HTTP           *http.Client
}

// FromOS returns the environment of the running process; BERTH_API
// overrides the socket.
func FromOS() Env {
	sock := os.Getenv("BERTH_API")
	if sock == "" {
		sock = wire.DefaultSocket
	}
	return Env{Args: os.Args[1:], Stdout: os.Stdout, Stderr: os.Stderr, Socket: sock}
}

const usage = `usage: os-ctl COMMAND [ARGS]

  status [--json]                      the machine: version, slot, services
  service ls [--json]                  every service, its state and memory
  service status NAME [--json]         one service with its event history
  service start|stop|restart NAME
  service enable|disable NAME [--now]  persist across boots (--now: start or stop too)
  net [--json]                         links, addresses, DHCP leases, routes, DNS
  hw [--all] [--json]                  devices, the driver bound to each, what no driver claimed
  fleet status [--json]                the swarm's nodes, versions, reboot slots, a halted rollout
  fleet unlock MACHINE                 free the reboot slot MACHINE (ID or host name) holds
  config validate FILE                 check user-data as sysd would read it (works on any host)
  config show                          the user-data in force, its source and its problems
  reload                               read unit files again; start new enabled services
  logs NAME [-f] [-n N] [--json]       a service's log; NAME may be sysd or kernel
  reboot | poweroff
  install --disk DEV|largest [--user-data FILE] [--force] [--reboot]
                                       from the installer ISO's live system: put Berth on a disk
  upgrade [--channel C] [--version V] [--no-reboot] [--allow-downgrade] [--dry-run] [--download-only]
                                       install the channel's release in the other slot and boot it
  rollback                             boot the other slot's release (it must have passed its health gate)
  channel [set NAME]                   the release channel (stable, beta, alpha, …); set persists it
  notify [--ready] [--status=TEXT] [--watchdog] [--stopping]
                                       sd_notify from inside a service, like systemd-notify
  probe [--unix SOCK] [--timeout D] URL
                                       health check: http(s)://… answers 2xx/3xx, tcp://HOST:PORT accepts
`

// errUsage is a wrong command line; usage is printed.
var errUsage = errors.New("wrong usage")

// Main runs os-ctl and returns the exit status.
func Main(env Env) int {
	if env.HTTP == nil {
		env.HTTP = wire.Client(env.Socket)
	}
	err := run(env)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprint(env.Stderr, usage)
		return 2
	}
	fmt.Fprintf(env.Stderr, "os-ctl: %v\n", err)
	return 1
}

func run(env Env) error {
	if len(env.Args) == 0 {
		return errUsage
	}
	c := &client{env: env}
	cmd, args := env.Args[0], env.Args[1:]
	switch cmd {
	case "status":
		return c.status(args)
	case "service", "services":
		if len(args) == 0 {
			return errUsage
		}
		return c.service(args[0], args[1:])
	case "logs", "log":
		return c.logs(args)
	case "config":
		return c.config(args)
	case "net", "network":
		return c.net(args)
	case "hw", "hardware":
		return c.hw(args)
	case "fleet":
		return c.fleet(args)
	case "upgrade", "update":
		return c.upgrade(args)
	case "rollback":
		return c.rollback(args)
	case "channel":
		return c.channel(args)
	case "reload":
		return c.post("/v1/reload", nil)
	case "install":
		return c.install(args)
	case "reboot", "poweroff":
		return c.post("/v1/"+cmd, nil)
	case "notify":
		return notify(args)
	case "probe":
		return probeCmd(env, args)
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q (see os-ctl help)", cmd)
}

// flags parses args with a --json flag and the given extras.
func flags(name string, args []string, setup func(*flag.FlagSet)) (*flag.FlagSet, *bool, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "")
	if setup != nil {
		setup(fs)
	}
	// Flags may follow the positional arguments (os-ctl logs NAME -f).
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, nil, fmt.Errorf("%s: %v", name, err)
		}
		args = fs.Args()
		if len(args) > 0 {
			pos = append(pos, args[0])
			args = args[1:]
		}
	}
	fs.Parse(pos)
	return fs, asJSON, nil
}

type client struct{ env Env }

// get decodes GET path into v, and returns the raw body for --json.
func (c *client) get(path string, v any) ([]byte, error) {
	resp, err := c.env.HTTP.Get("http://sysd" + path)
	if err != nil {
		return nil, fmt.Errorf("cannot reach sysd on %s: %w", c.env.Socket, unwrapURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return nil, apiError(body, resp.Status)
	}
	return body, json.Unmarshal(body, v)
}

func (c *client) post(path string, v any) error { return c.postJSON(path, nil, v) }

// postJSON posts in (nil: no body) and decodes the answer into out.
func (c *client) postJSON(path string, in, v any) error {
	var send io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return err
		}
		send = bytes.NewReader(raw)
	}
	resp, err := c.env.HTTP.Post("http://sysd"+path, "application/json", send)
	if err != nil {
		return fmt.Errorf("cannot reach sysd on %s: %w", c.env.Socket, unwrapURL(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return apiError(body, resp.Status)
	}
	if v != nil {
		return json.Unmarshal(body, v)
	}
	return nil
}

func apiError(body []byte, status string) error {
	var e wire.Error
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return errors.New(e.Error)
	}
	return fmt.Errorf("sysd answered %s", status)
}

func unwrapURL(err error) error {
	var u *url.Error
	if errors.As(err, &u) {
		return u.Err
	}
	return err
}

func printJSON(w io.Writer, raw []byte) error {
	_, err := w.Write(append([]byte(strings.TrimRight(string(raw), "\n")), '\n'))
	return err
}
