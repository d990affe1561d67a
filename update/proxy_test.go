package update

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

func TestProxyFromFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "proxy.env")
	proxy := ProxyFromFile(p)
	req, _ := http.NewRequest("GET", "https://releases.example.com/stable/targets.json", nil)
	if u, err := proxy(req); u != nil || err != nil {
		t.Errorf("no file: %v %v", u, err)
	}
	os.WriteFile(p, []byte("HTTP_PROXY=http://10.0.2.2:3128\nhttps_proxy=http://10.0.2.2:3129\nNO_PROXY=.internal,10.0.0.0/8\n"), 0o644)
	if u, err := proxy(req); err != nil || u == nil || u.Host != "10.0.2.2:3129" {
		t.Errorf("https through the proxy: %v %v", u, err)
	}
	for _, host := range []string{"http://mirror.internal/x", "http://10.1.2.3/x"} {
		req, _ := http.NewRequest("GET", host, nil)
		if u, err := proxy(req); u != nil || err != nil {
			t.Errorf("%s is in no_proxy: %v %v", host, u, err)
		}
	}
}
