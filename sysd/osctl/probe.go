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
	wait := fs.Duration("wait", 0, "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return fmt.Errorf("probe: usage: os-ctl probe [--unix SOCKET] [--timeout D] [--wait D] http://HOST[:PORT]/PATH | tcp://HOST:PORT | unix:///PATH")
	}
	// --wait: try again every 200 ms until it answers or D has passed (a
	// unit waiting for its own daemon, as docker.service for containerd).
	deadline := time.Now().Add(*wait)
	var msg string
	var err error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		msg, err = probe.Check(ctx, fs.Arg(0), *sock)
		cancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: %s\n", fs.Arg(0), msg)
	return nil
}
