package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Client calls managers' fleet endpoints.
type Client struct {
	Key  *Key
	HTTP *http.Client
}

// NewClient returns a client that pins the cluster's key.
func NewClient(k *Key) *Client {
	return &Client{Key: k, HTTP: &http.Client{
		Timeout: 3 * time.Minute, // a pre-reboot waits for the drain
		Transport: &http.Transport{
			TLSClientConfig:       k.ClientTLS(),
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 3 * time.Minute,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			Proxy:                 nil, // machine to machine: never through berth.proxy
		},
	}}
}

// RemoteError is a manager's refusal.
type RemoteError struct {
	Addr   string
	Status int
	Kind   string // busy, unauthorized, not_a_manager, failed, …
	Value  string
}

func (e *RemoteError) Error() string { return fmt.Sprintf("%s: %s", e.Addr, e.Value) }

// Endpoint is the fleet endpoint of addr: a host, or HOST:PORT.
func Endpoint(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(addr, strconv.Itoa(Port))
}

// Call posts in to path on the manager at addr and decodes its answer
// into out.
func (c *Client) Call(ctx context.Context, addr, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	ep := Endpoint(addr)
	req, err := http.NewRequestWithContext(ctx, "POST", "https://"+ep+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("fleet: %s%s: %w", ep, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(protocolHeader, "true")
	c.Key.Sign(req, body)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		if errors.Is(err, ErrOtherSecret) {
			return fmt.Errorf("fleet: %s: %w", ep, ErrOtherSecret)
		}
		return fmt.Errorf("fleet: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("fleet: %s%s: %w", ep, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var pe protocolError
		if json.Unmarshal(b, &pe) != nil || pe.Value == "" {
			pe = protocolError{Kind: "failed", Value: fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(b))}
		}
		return &RemoteError{Addr: ep, Status: resp.StatusCode, Kind: pe.Kind, Value: pe.Value}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("fleet: %s%s: the answer does not parse: %w", ep, path, err)
		}
	}
	return nil
}

// Token asks the manager at addr for a join token of role.
func (c *Client) Token(ctx context.Context, addr, role string) (TokenReply, error) {
	var r TokenReply
	err := c.Call(ctx, addr, "/v1/join-token", TokenRequest{Role: role}, &r)
	if err == nil && r.Token == "" {
		err = fmt.Errorf("fleet: %s gave an empty join token", addr)
	}
	return r, err
}

// First calls each manager in turn until one answers; a refusal that a
// manager decided (busy, not found) ends the round, a manager that
// cannot answer passes to the next.
func (c *Client) First(ctx context.Context, managers []string, path string, in, out any) (string, error) {
	if len(managers) == 0 {
		return "", errors.New("fleet: no manager is known")
	}
	var errs []error
	for _, m := range managers {
		err := c.Call(ctx, m, path, in, out)
		if err == nil {
			return m, nil
		}
		var re *RemoteError
		if errors.As(err, &re) && re.Kind != "not_a_manager" && re.Kind != "not_ready" && re.Status != http.StatusServiceUnavailable {
			return m, err
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}
