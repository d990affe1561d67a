package machine

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"berth.dev/berth/internal/atomicfile"
)

// EnsureMachineID returns the machine ID in path (machine-id(5): 32 lower
// case hex digits), creating it on first boot. It lives on the /etc overlay,
// so it stays the same across boots and updates.
func EnsureMachineID(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		id := strings.TrimSpace(string(b))
		if validMachineID(id) {
			return id, nil
		}
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generate machine id: %w", err)
	}
	// Mark it as a random (version 4) UUID, as systemd does.
	raw[6] = raw[6]&0x0f | 0x40
	raw[8] = raw[8]&0x3f | 0x80
	id := hex.EncodeToString(raw[:])
	if err := atomicfile.Write(path, []byte(id+"\n"), 0o444); err != nil {
		return "", err
	}
	return id, nil
}

func validMachineID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}
