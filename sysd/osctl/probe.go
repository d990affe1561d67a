package osctl

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"berth.dev/berth/sysd/probe"
)

// probeCmd is os-ctl probe: "does this service answer?" for health checks: an HTTP
// URL must answer 2xx or 3xx, tcp://HOST:PORT must accept a connection.
// --unix sends the HTTP request over a unix socket (dockerd's /_ping), so
// an image needs neither curl nor a shell to be checked.
func probeCmd(env Env, args []string) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sock := fs.String("unix", "", "")
	timeout := fs.Duration("timeout", 5*time.Second, "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return fmt.Errorf("probe: usage: os-ctl probe [--unix SOCKET] [--timeout D] http://HOST[:PORT]/PATH | tcp://HOST:PORT")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	msg, err := probe.Check(ctx, fs.Arg(0), *sock)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: %s\n", fs.Arg(0), msg)
	return nil
}
