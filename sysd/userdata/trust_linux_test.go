package userdata

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/internal/layout"
)

func testCA(t *testing.T) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Berth test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func indent(s string) string {
	return "      " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n      ") + "\n"
}

// ca_certs and berth.proxy: what parses is applied; a text that is not a
// certificate and a proxy URL that does not parse are named with their
// lines and left out.
func TestCACertsAndProxy(t *testing.T) {
	ca := testCA(t)
	ud := "#cloud-config\nca_certs:\n  trusted:\n    - |\n" + indent(ca) +
		"    - not a certificate\n" +
		"berth:\n  proxy:\n    http: http://10.0.2.2:3128\n    https: ://nope\n    no_proxy: [localhost, .internal]\n"
	lineOf := func(sub string) int { return 1 + strings.Count(ud[:strings.Index(ud, sub)], "\n") }
	var c Config
	ds := Parse("ud", []byte(ud), &c)
	if len(ds) != 2 || ds[0].Line != lineOf("- not a") || ds[0].Key != "ca_certs.trusted[1]" || !strings.Contains(ds[0].Msg, "not a PEM certificate") ||
		ds[1].Line != lineOf("https: ://") || ds[1].Key != "berth.proxy.https" || !strings.Contains(ds[1].Msg, "does not parse") {
		t.Fatalf("diagnostics: %v", ds)
	}
	if c.CACerts == nil || len(c.CACerts.Trusted) != 1 || c.Berth.Proxy == nil || c.Berth.Proxy.HTTP != "http://10.0.2.2:3128" || c.Berth.Proxy.HTTPS != "" {
		t.Fatalf("config: %+v %+v", c.CACerts, c.Berth.Proxy)
	}

	root := t.TempDir()
	base := "-----BEGIN CERTIFICATE-----\nDEBIAN\n-----END CERTIFICATE-----\n"
	os.MkdirAll(filepath.Join(root, filepath.Dir(layout.CABundleBase)), 0o755)
	os.WriteFile(filepath.Join(root, layout.CABundleBase), []byte(base), 0o644)
	a := &Applier{Root: root, StateDir: filepath.Join(root, "state"), Logf: t.Logf}
	if errs := a.Early(&c); len(errs) != 0 {
		t.Fatal(errs)
	}
	if b, _ := os.ReadFile(filepath.Join(root, layout.CABundle)); string(b) != base+c.CACerts.Trusted[0] {
		t.Errorf("bundle:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(root, layout.ProxyEnv)); !strings.Contains(string(b), "HTTP_PROXY=http://10.0.2.2:3128\nhttp_proxy=http://10.0.2.2:3128\nNO_PROXY=localhost,.internal\n") {
		t.Errorf("proxy.env:\n%s", b)
	}
	// The next boot without them: the image's bundle again, no proxy.
	if errs := a.Early(&Config{}); len(errs) != 0 {
		t.Fatal(errs)
	}
	if b, _ := os.ReadFile(filepath.Join(root, layout.CABundle)); string(b) != base {
		t.Errorf("bundle not restored:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(root, layout.ProxyEnv)); !os.IsNotExist(err) {
		t.Errorf("proxy.env left: %v", err)
	}
}
