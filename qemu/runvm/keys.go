// Package runvm is the machine of `make run` and `make ssh`: the image
// booted on this terminal, with the invoking user's SSH key (or a key pair
// made once under build/) given to it as user-data, a host key that stays
// the same from one run to the next, and the exact ssh command to log in.
package runvm

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Key is the SSH key the admin logs in with.
type Key struct {
	// Public is the authorized_keys line.
	Public string
	// File is the public key's file; Made says it is the pair made under
	// build/ (then ssh must be told the private key: Identity), not one of
	// the user's own that ssh tries by itself.
	File     string
	Identity string
	Made     bool
}

// userKeys are the public keys looked for in ~/.ssh, best first.
var userKeys = []string{"id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"}

// ErrNoKey is returned when there is no key and none could be made.
var ErrNoKey = errors.New("no SSH key")

// FindKey returns the user's own public key from home/.ssh, else the pair
// in dir (made there on first use).
func FindKey(home, dir string) (Key, error) {
	if home != "" {
		for _, n := range userKeys {
			f := filepath.Join(home, ".ssh", n)
			if b, err := os.ReadFile(f); err == nil {
				if line, err := authorizedLine(b); err == nil {
					return Key{Public: line, File: f}, nil
				}
			}
		}
	}
	priv := filepath.Join(dir, "id_ed25519")
	pub, err := ensurePair(priv, "berth make run")
	if err != nil {
		return Key{}, fmt.Errorf("%w in %s/.ssh (%s) and none could be made: %v", ErrNoKey, home, strings.Join(userKeys, ", "), err)
	}
	return Key{Public: pub, File: priv + ".pub", Identity: priv, Made: true}, nil
}

// HostKey returns the machine's SSH host key from dir, made there on first
// use: the same for every `make run`, so ssh can check it.
func HostKey(dir string) (private []byte, public string, err error) {
	priv := filepath.Join(dir, "ssh_host_ed25519_key")
	if public, err = ensurePair(priv, "berth-vm"); err != nil {
		return nil, "", fmt.Errorf("host key: %w", err)
	}
	private, err = os.ReadFile(priv)
	return private, public, err
}

// ensurePair makes an ed25519 key pair at priv and priv.pub unless a good
// one is there, and returns the public key's authorized_keys line.
func ensurePair(priv, comment string) (string, error) {
	if b, err := os.ReadFile(priv + ".pub"); err == nil {
		if _, err := os.Stat(priv); err == nil {
			if line, err := authorizedLine(b); err == nil {
				return line, nil
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(priv), 0o700); err != nil {
		return "", fmt.Errorf("make key pair %s: %w", priv, err)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("make key pair %s: %w", priv, err)
	}
	block, err := ssh.MarshalPrivateKey(key, comment)
	if err != nil {
		return "", fmt.Errorf("make key pair %s: %w", priv, err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("make key pair %s: %w", priv, err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " " + comment
	if err := os.WriteFile(priv, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", priv, err)
	}
	if err := os.WriteFile(priv+".pub", []byte(line+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("write %s.pub: %w", priv, err)
	}
	return line, nil
}

// authorizedLine checks that b is one public key and returns it as a line.
func authorizedLine(b []byte) (string, error) {
	if _, _, _, _, err := ssh.ParseAuthorizedKey(b); err != nil {
		return "", err
	}
	return strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]), nil
}
