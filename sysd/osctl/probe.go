package osctl

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// probe answers "does this service answer?" for health checks: an HTTP
// URL must answer 2xx or 3xx, tcp://HOST:PORT must accept a connection.
// --unix sends the HTTP request over a unix socket (dockerd's /_ping), so
// an image needs neither curl nor a shell to be checked.
func probe(env Env, args []string) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sock := fs.String("unix", "", "")
	timeout := fs.Duration("timeout", 5*time.Second, "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return fmt.Errorf("probe: usage: os-ctl probe [--unix SOCKET] [--timeout D] http://HOST[:PORT]/PATH | tcp://HOST:PORT")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	msg, err := Probe(ctx, fs.Arg(0), *sock)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: %s\n", fs.Arg(0), msg)
	return nil
}

// Probe checks target once (the health gate's user checks use it too)
// and says what answered.
func Probe(ctx context.Context, target, sock string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("probe %s: %w", target, err)
	}
	var d net.Dialer
	switch u.Scheme {
	case "tcp":
		c, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return "", fmt.Errorf("probe %s: %w", target, err)
		}
		c.Close()
		return "connected", nil
	case "http", "https":
	default:
		return "", fmt.Errorf("probe %s: scheme %q is not http, https or tcp", target, u.Scheme)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	if sock != "" {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", sock)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "", fmt.Errorf("probe %s: %w", target, err)
	}
	resp, err := (&http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}).Do(req)
	if err != nil {
		return "", fmt.Errorf("probe %s: %w", target, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return "", fmt.Errorf("probe %s: %s: %s", target, resp.Status, body)
	}
	return resp.Status, nil
}
