package osctl

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runProbe(args ...string) (int, string) {
	var out bytes.Buffer
	code := Main(Env{Args: append([]string{"probe"}, args...), Stdout: &out, Stderr: &out, Socket: "/nonexistent"})
	return code, out.String()
}

func TestProbe(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			w.Write([]byte("OK"))
			return
		}
		http.Error(w, "broken", http.StatusInternalServerError)
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	// The same handler on a unix socket, as dockerd serves /_ping.
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	usrv := &http.Server{Handler: h}
	go usrv.Serve(l)
	defer usrv.Close()

	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{srv.URL + "/_ping"}, 0, "200 OK"},
		{[]string{srv.URL + "/other"}, 1, "500 Internal Server Error: broken"},
		{[]string{"--unix", sock, "http://docker/_ping"}, 0, "200 OK"},
		{[]string{"--unix", sock + ".missing", "http://docker/_ping"}, 1, "no such file"},
		{[]string{"tcp://" + strings.TrimPrefix(srv.URL, "http://")}, 0, "connected"},
		{[]string{"tcp://" + closedAddr}, 1, "connection refused"},
		{[]string{"unix://" + sock}, 0, "connected"},
		{[]string{"unix://" + sock + ".missing"}, 1, "no such file"},
		{[]string{"ftp://x/"}, 1, `scheme "ftp"`},
		{nil, 1, "usage: os-ctl probe"},
	} {
		code, out := runProbe(tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("probe %v: %d %q, want %d and %q", tc.args, code, out, tc.code, tc.want)
		}
	}
}

// --wait tries until the socket answers: a unit waits for its own daemon
// (docker.service for containerd) without a timeout of the daemon's.
func TestProbeWait(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "late.sock")
	go func() {
		time.Sleep(time.Second)
		l, err := net.Listen("unix", sock)
		if err == nil {
			defer l.Close()
			time.Sleep(10 * time.Second)
		}
	}()
	if code, out := runProbe("--wait", "30s", "unix://"+sock); code != 0 || !strings.Contains(out, "connected") {
		t.Fatalf("%d %q", code, out)
	}
	start := time.Now()
	if code, out := runProbe("--wait", "1s", "unix://"+sock+".never"); code != 1 || time.Since(start) > 10*time.Second {
		t.Fatalf("never: %d %q after %v", code, out, time.Since(start))
	}
}
