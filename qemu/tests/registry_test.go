package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testPKI makes a CA and a server certificate for 10.0.2.2 (the host, as
// QEMU's user network shows it to the guest), as PEM files in dir.
func testPKI(t *testing.T, dir string) (caPEM, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Berth test registry CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "10.0.2.2"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("10.0.2.2"), net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, srv, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "registry.crt"), filepath.Join(dir, "registry.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})), certFile, keyFile
}

// startRegistry runs Debian's docker-registry on 127.0.0.1:port (the
// guest's 10.0.2.2:port), over TLS when cert is given, until the test
// ends.
func startRegistry(t *testing.T, dir, name, cert, key string) int {
	t.Helper()
	port := freePort(t)
	tls := ""
	if cert != "" {
		tls = fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", cert, key)
	}
	cfg := filepath.Join(dir, name+".yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%d\n%s",
		filepath.Join(dir, name+"-data"), port, tls)), 0o644)
	cmd := exec.Command("docker-registry", "serve", cfg)
	cmd.Stdout, cmd.Stderr = testWriter{t, name}, testWriter{t, name}
	if err := cmd.Start(); err != nil {
		t.Fatalf("docker-registry (Debian's docker-registry): %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return port
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry %s never listened on %d", name, port)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// forwardProxy is an HTTP proxy on the host for the guest (plain HTTP
// only). It forwards to 127.0.0.1 what the guest sent to 10.0.2.2 or to
// one of names (names nothing else resolves, so that only a request
// through the proxy reaches them), and counts the requests it forwarded.
func forwardProxy(t *testing.T, names ...string) (port int, forwarded *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	local := map[string]bool{"10.0.2.2": true}
	for _, name := range names {
		local[name] = true
	}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.Out.Host = r.In.Host
		if port := r.In.URL.Port(); port != "" {
			r.Out.URL.Host = net.JoinHostPort("127.0.0.1", port)
		} else {
			r.Out.URL.Host = "127.0.0.1"
		}
		n.Add(1)
	}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !r.URL.IsAbs() {
			http.Error(w, "a proxy request has an absolute URL", http.StatusBadRequest)
			return
		}
		if !local[r.URL.Hostname()] {
			http.Error(w, "the test proxy forwards only to the host", http.StatusForbidden)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().(*net.TCPAddr).Port, &n
}

type testWriter struct {
	t    *testing.T
	name string
}

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s: %s", w.name, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
