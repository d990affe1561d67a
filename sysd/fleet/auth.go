// Package fleet makes Berth machines one Docker Swarm and coordinates
// their reboots: membership from berth.swarm (a joining machine gets its
// join token from a manager's fleet endpoint), and a FleetLock server on
// the managers whose reboot slots live in the swarm's own Raft store.
//
// Everything between machines goes over the fleet endpoint (TLS, port
// 2378), authenticated both ways by the cluster's shared secret: the
// server's certificate key is derived from it and pinned by the client,
// and each request carries an HMAC of its method, path and body. No join
// token leaves a manager for a request without the secret.
package fleet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"time"
)

// Port is the fleet endpoint's TCP port on every machine in a swarm
// (the swarm's own manager port is 2377).
const Port = 2378

// Key is what the cluster's secret gives: the endpoint's TLS key and the
// requests' MAC key. Derived with HKDF so that neither reveals the other
// or the secret.
type Key struct {
	tls    ed25519.PrivateKey
	macKey []byte
}

// NewKey derives the keys from the cluster's secret.
func NewKey(secret string) (*Key, error) {
	if secret == "" {
		return nil, errors.New("fleet: no secret")
	}
	seed, err := hkdf.Key(sha256.New, []byte(secret), nil, "berth fleet tls ed25519", ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("fleet: derive the TLS key: %w", err)
	}
	mac, err := hkdf.Key(sha256.New, []byte(secret), nil, "berth fleet request mac", 32)
	if err != nil {
		return nil, fmt.Errorf("fleet: derive the MAC key: %w", err)
	}
	return &Key{tls: ed25519.NewKeyFromSeed(seed), macKey: mac}, nil
}

// ServerTLS is the endpoint's TLS configuration: a self-signed
// certificate for the derived key. Its name and dates do not matter:
// clients pin the key.
func (k *Key) ServerTLS() (*tls.Config, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "berth fleet"},
		NotBefore:    time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.tls.Public(), k.tls)
	if err != nil {
		return nil, fmt.Errorf("fleet: make the endpoint's certificate: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: k.tls}},
	}, nil
}

// ErrOtherSecret is a peer whose key is not the one this machine's
// secret gives.
var ErrOtherSecret = errors.New("the peer's key is not this cluster's: its secret differs")

// ClientTLS pins the endpoint's key: a server that does not hold the
// secret fails the handshake, whatever its certificate says.
func (k *Key) ClientTLS() *tls.Config {
	want := k.tls.Public().(ed25519.PublicKey)
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The chain and name are not what is checked: the key is.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrOtherSecret
			}
			got, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
			if !ok || !got.Equal(want) {
				return ErrOtherSecret
			}
			return nil
		},
	}
}

// authScheme names the MAC in the Authorization header.
const authScheme = "Berth-Fleet "

// maxBody bounds a request's or a response's body on the endpoint.
const maxBody = 1 << 20

func (k *Key) mac(method, path string, body []byte) []byte {
	h := hmac.New(sha256.New, k.macKey)
	sum := sha256.Sum256(body)
	fmt.Fprintf(h, "%s\n%s\n%x", method, path, sum)
	return h.Sum(nil)
}

// Sign sets the request's Authorization header; body is what it sends.
func (k *Key) Sign(r *http.Request, body []byte) {
	r.Header.Set("Authorization", authScheme+hex.EncodeToString(k.mac(r.Method, r.URL.Path, body)))
}

// Verify reads the request's body and checks its MAC; the body is
// returned for the handler.
func (k *Key) Verify(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read the request: %w", err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("the request is larger than %d bytes", maxBody)
	}
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, authScheme) {
		return nil, errors.New("the request is not signed with the cluster's secret")
	}
	got, err := hex.DecodeString(strings.TrimPrefix(h, authScheme))
	if err != nil || !hmac.Equal(got, k.mac(r.Method, r.URL.Path, body)) {
		return nil, errors.New("the request's MAC is wrong: its secret is not this cluster's")
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}
