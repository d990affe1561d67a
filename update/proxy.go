package update

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"os"
	"strings"

	"golang.org/x/net/http/httpproxy"
)

// ProxyFromFile is an http.Transport's Proxy that reads the proxy
// settings from an environment file (KEY=VALUE lines: HTTP_PROXY,
// HTTPS_PROXY, NO_PROXY, or their lowercase forms) at each request, so
// that user-data applied after the updater started still counts. No
// file: no proxy.
func ProxyFromFile(path string) func(*http.Request) (*url.URL, error) {
	return func(req *http.Request) (*url.URL, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil
		}
		return ProxyConfig(b).ProxyFunc()(req.URL)
	}
}

// ProxyConfig reads an environment file's proxy variables.
func ProxyConfig(env []byte) *httpproxy.Config {
	var c httpproxy.Config
	s := bufio.NewScanner(bytes.NewReader(env))
	for s.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(s.Text()), "=")
		if !ok {
			continue
		}
		switch strings.ToUpper(k) {
		case "HTTP_PROXY":
			c.HTTPProxy = v
		case "HTTPS_PROXY":
			c.HTTPSProxy = v
		case "NO_PROXY":
			c.NoProxy = v
		}
	}
	return &c
}
