// Package probe answers "does this service answer?": an HTTP URL must
// answer 2xx or 3xx, tcp://HOST:PORT or unix:///PATH must accept a
// connection; HTTP goes over a unix socket when one is given (dockerd's
// /_ping). os-ctl probe (health checks
// in images without curl or a shell) and the health gate's user checks use
// it.
package probe

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
)

// Check checks target once and says what answered.
func Check(ctx context.Context, target, sock string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("probe %s: %w", target, err)
	}
	var d net.Dialer
	switch u.Scheme {
	case "tcp", "unix":
		addr := u.Host
		if u.Scheme == "unix" {
			addr = u.Path
		}
		c, err := d.DialContext(ctx, u.Scheme, addr)
		if err != nil {
			return "", fmt.Errorf("probe %s: %w", target, err)
		}
		c.Close()
		return "connected", nil
	case "http", "https":
	default:
		return "", fmt.Errorf("probe %s: scheme %q is not http, https, tcp or unix", target, u.Scheme)
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
