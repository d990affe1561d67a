package publish

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"berth.dev/berth/internal/copyfile"
	"berth.dev/berth/update"
)

// A release repository is TUF metadata and target files on any static
// HTTP server (the same layout Bottlerocket's updates use TUF for):
//
//	metadata/1.root.json, 2.root.json…   the root of trust, each version
//	metadata/N.snapshot.json, N.targets.json, timestamp.json
//	targets/releases/VERSION/{vmlinuz,initrd.img,root.img,release.json}
//	targets/channels/CHANNEL.json        {"version": "VERSION"}
//
// A channel is a signed target like any other, so pointing it at another
// release is one more signed targets version: a client cannot be shown
// an old channel file (TUF refuses older metadata), a stale mirror
// (timestamp.json expires) or a file that is not the signed one.

// Roles are the four TUF roles, each with a key of its own in the keys
// directory (ROLE.key, PKCS#8 PEM). The root key signs only the root.
var Roles = []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP}

// Expiry is how long each role's signature holds. The timestamp is short,
// so a mirror that stops updating is noticed within a day.
var Expiry = map[string]time.Duration{
	metadata.ROOT:      365 * 24 * time.Hour,
	metadata.TARGETS:   90 * 24 * time.Hour,
	metadata.SNAPSHOT:  30 * 24 * time.Hour,
	metadata.TIMESTAMP: 24 * time.Hour,
}

// InitKeys makes a key for every role in dir and the first root of trust,
// dir/root.json, which images carry as what they trust.
func InitKeys(dir string, now time.Time) error {
	if _, err := os.Stat(filepath.Join(dir, "root.json")); err == nil {
		return fmt.Errorf("init keys: %s already holds a root of trust; refusing to replace it", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("init keys: %w", err)
	}
	root := metadata.Root(now.Add(Expiry[metadata.ROOT]).UTC())
	keys := map[string]ed25519.PrivateKey{}
	for _, role := range Roles {
		priv, k, err := newKey(dir, role)
		if err != nil {
			return fmt.Errorf("init keys: %w", err)
		}
		if err := root.Signed.AddKey(k, role); err != nil {
			return fmt.Errorf("init keys: %w", err)
		}
		keys[role] = priv
	}
	if err := sign(root, keys[metadata.ROOT]); err != nil {
		return err
	}
	return root.ToFile(filepath.Join(dir, "root.json"), true)
}

// newKey makes role's key in dir (ROLE.key) and returns it with its
// public half as TUF metadata.
func newKey(dir, role string) (ed25519.PrivateKey, *metadata.Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, role+".key"), p, 0o600); err != nil {
		return nil, nil, err
	}
	k, err := metadata.KeyFromPublicKey(priv.Public())
	return priv, k, err
}

// Rotate replaces role's key: a new root version trusts the new key
// instead of the old, signed by the old root key (and by the new one when
// the root key itself rotates), so machines follow it without being
// reinstalled; then the repository is signed again with the new keys.
// The old key file is kept as ROLE.key.old.
func (r Repo) Rotate(role string) error {
	if !slices.Contains(Roles, role) {
		return fmt.Errorf("rotate: %q is not a role (%s)", role, strings.Join(Roles, ", "))
	}
	root, err := metadata.Root().FromFile(filepath.Join(r.Keys, "root.json"))
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	oldRoot, err := loadKey(r.Keys, metadata.ROOT)
	if err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(r.Keys, role+".key"), filepath.Join(r.Keys, role+".key.old")); err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	priv, k, err := newKey(r.Keys, role)
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	for _, id := range root.Signed.Roles[role].KeyIDs {
		if err := root.Signed.RevokeKey(id, role); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
	}
	if err := root.Signed.AddKey(k, role); err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	root.Signed.Version++
	root.Signed.Expires = r.now().Add(Expiry[metadata.ROOT])
	if err := sign(root, oldRoot); err != nil {
		return err
	}
	if role == metadata.ROOT {
		s, err := signature.LoadSigner(priv, crypto.Hash(0))
		if err != nil {
			return err
		}
		if _, err := root.Sign(s); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
	}
	if err := root.ToFile(filepath.Join(r.Keys, "root.json"), true); err != nil {
		return err
	}
	if r.Dir == "" {
		return nil
	}
	if err := os.MkdirAll(r.meta(""), 0o755); err != nil {
		return err
	}
	for _, name := range []string{fmt.Sprintf("%d.root.json", root.Signed.Version), "root.json"} {
		if err := root.ToFile(r.meta(name), true); err != nil {
			return err
		}
	}
	return r.update(nil, "", "")
}

func loadKey(dir, role string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(filepath.Join(dir, role+".key"))
	if err != nil {
		return nil, fmt.Errorf("%s key: %w (run berth-release init --keys %s)", role, err, dir)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s key %s: not PEM", role, filepath.Join(dir, role+".key"))
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s key: %w", role, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s key: not ed25519", role)
	}
	return priv, nil
}

func sign[T metadata.Roles](m *metadata.Metadata[T], key ed25519.PrivateKey) error {
	s, err := signature.LoadSigner(key, crypto.Hash(0))
	if err != nil {
		return fmt.Errorf("load signer: %w", err)
	}
	m.ClearSignatures()
	if _, err := m.Sign(s); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	return nil
}

// Repo is a release repository directory being changed by the holder of
// the keys in Keys.
type Repo struct {
	Dir, Keys string
	Now       func() time.Time
}

func (r Repo) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r Repo) meta(name string) string { return filepath.Join(r.Dir, "metadata", name) }

// Publish copies the release in dir (release.json and its parts, as
// make image writes build/release) into the repository and points
// channel at it.
func (r Repo) Publish(dir, channel string) (string, error) {
	if channel == "" {
		return "", errors.New("publish: no channel named")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "release.json"))
	if err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	var rel update.Release
	if err := json.Unmarshal(raw, &rel); err != nil || rel.Version == "" {
		return "", fmt.Errorf("publish: %s/release.json: no version (%v)", dir, err)
	}
	files := map[string][]byte{}
	for _, name := range append([]string{"release.json"}, update.PartNames...) {
		dst := filepath.Join(r.Dir, "targets", "releases", rel.Version, name)
		if err := copyfile.Copy(filepath.Join(dir, name), dst); err != nil {
			return "", fmt.Errorf("publish: %w", err)
		}
		files["releases/"+rel.Version+"/"+name] = nil
	}
	return rel.Version, r.update(files, channel, rel.Version)
}

// Promote points channel at a release the repository already holds.
func (r Repo) Promote(version, channel string) error {
	if channel == "" {
		return errors.New("promote: no channel named")
	}
	if _, err := os.Stat(filepath.Join(r.Dir, "targets", "releases", version, "release.json")); err != nil {
		return fmt.Errorf("promote: the repository has no release %s", version)
	}
	return r.update(nil, channel, version)
}

// update adds files (paths below targets/) and the channel file (unless
// channel is empty) to the signed targets, then signs a new snapshot and
// timestamp.
func (r Repo) update(files map[string][]byte, channel, version string) error {
	keys := map[string]ed25519.PrivateKey{}
	for _, role := range Roles[1:] {
		k, err := loadKey(r.Keys, role)
		if err != nil {
			return err
		}
		keys[role] = k
	}
	if err := os.MkdirAll(r.meta(""), 0o755); err != nil {
		return err
	}
	// The repository starts from the root the keys directory holds.
	if _, err := os.Stat(r.meta("1.root.json")); errors.Is(err, os.ErrNotExist) {
		if err := copyfile.Copy(filepath.Join(r.Keys, "root.json"), r.meta("1.root.json")); err != nil {
			return err
		}
		if err := copyfile.Copy(filepath.Join(r.Keys, "root.json"), r.meta("root.json")); err != nil {
			return err
		}
	}
	if files == nil {
		files = map[string][]byte{}
	}
	if channel != "" {
		ch, _ := json.Marshal(update.ChannelFile{Version: version})
		chPath := filepath.Join(r.Dir, "targets", "channels", channel+".json")
		if err := os.MkdirAll(filepath.Dir(chPath), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(chPath, ch, 0o644); err != nil {
			return err
		}
		files["channels/"+channel+".json"] = nil
	}

	now := r.now()
	targets := metadata.Targets(now.Add(Expiry[metadata.TARGETS]))
	if old, err := metadata.Targets().FromFile(r.meta("targets.json")); err == nil {
		targets.Signed.Targets = old.Signed.Targets
		targets.Signed.Version = old.Signed.Version + 1
	}
	for p := range files {
		tf, err := metadata.TargetFile().FromFile(filepath.Join(r.Dir, "targets", p), "sha256")
		if err != nil {
			return fmt.Errorf("hash %s: %w", p, err)
		}
		targets.Signed.Targets[p] = tf
	}
	if err := sign(targets, keys[metadata.TARGETS]); err != nil {
		return err
	}
	snapshot := metadata.Snapshot(now.Add(Expiry[metadata.SNAPSHOT]))
	if old, err := metadata.Snapshot().FromFile(r.meta("snapshot.json")); err == nil {
		snapshot.Signed.Version = old.Signed.Version + 1
	}
	snapshot.Signed.Meta["targets.json"] = metadata.MetaFile(targets.Signed.Version)
	if err := sign(snapshot, keys[metadata.SNAPSHOT]); err != nil {
		return err
	}
	timestamp := metadata.Timestamp(now.Add(Expiry[metadata.TIMESTAMP]))
	if old, err := metadata.Timestamp().FromFile(r.meta("timestamp.json")); err == nil {
		timestamp.Signed.Version = old.Signed.Version + 1
	}
	timestamp.Signed.Meta["snapshot.json"] = metadata.MetaFile(snapshot.Signed.Version)
	if err := sign(timestamp, keys[metadata.TIMESTAMP]); err != nil {
		return err
	}
	// Versioned files first, timestamp.json last: a client reading the
	// repository meanwhile sees the old state or the new, never half.
	for _, w := range []struct {
		name string
		m    interface{ ToFile(string, bool) error }
	}{
		{fmt.Sprintf("%d.targets.json", targets.Signed.Version), targets},
		{"targets.json", targets},
		{fmt.Sprintf("%d.snapshot.json", snapshot.Signed.Version), snapshot},
		{"snapshot.json", snapshot},
		{"timestamp.json", timestamp},
	} {
		if err := w.m.ToFile(r.meta(w.name), true); err != nil {
			return fmt.Errorf("write %s: %w", w.name, err)
		}
	}
	return nil
}

// RefreshBefore is how long before its expiry Refresh also re-signs the
// snapshot.
const RefreshBefore = 7 * 24 * time.Hour

// Refresh signs the timestamp again (a new version that expires a day from
// now), and the snapshot too when it expires within RefreshBefore or when
// snapshot is set. It needs only the online timestamp and snapshot keys:
// run it from a timer at least daily (docs/updates.md), or machines stop
// taking updates from a repository nobody published to for a day.
func (r Repo) Refresh(snapshot bool) (string, error) {
	now := r.now()
	ts, err := metadata.Timestamp().FromFile(r.meta("timestamp.json"))
	if err != nil {
		return "", fmt.Errorf("refresh: %s is not a release repository: %w", r.Dir, err)
	}
	snap, err := metadata.Snapshot().FromFile(r.meta("snapshot.json"))
	if err != nil {
		return "", fmt.Errorf("refresh: %w", err)
	}
	var done []string
	if snapshot || snap.Signed.Expires.Before(now.Add(RefreshBefore)) {
		k, err := loadKey(r.Keys, metadata.SNAPSHOT)
		if err != nil {
			return "", err
		}
		snap.Signed.Version++
		snap.Signed.Expires = now.Add(Expiry[metadata.SNAPSHOT])
		if err := sign(snap, k); err != nil {
			return "", err
		}
		for _, name := range []string{fmt.Sprintf("%d.snapshot.json", snap.Signed.Version), "snapshot.json"} {
			if err := snap.ToFile(r.meta(name), true); err != nil {
				return "", fmt.Errorf("refresh: write %s: %w", name, err)
			}
		}
		done = append(done, fmt.Sprintf("snapshot %d until %s", snap.Signed.Version, snap.Signed.Expires.Format(time.RFC3339)))
	}
	k, err := loadKey(r.Keys, metadata.TIMESTAMP)
	if err != nil {
		return "", err
	}
	ts.Signed.Version++
	ts.Signed.Expires = now.Add(Expiry[metadata.TIMESTAMP])
	ts.Signed.Meta["snapshot.json"] = metadata.MetaFile(snap.Signed.Version)
	if err := sign(ts, k); err != nil {
		return "", err
	}
	if err := ts.ToFile(r.meta("timestamp.json"), true); err != nil {
		return "", fmt.Errorf("refresh: write timestamp.json: %w", err)
	}
	done = append(done, fmt.Sprintf("timestamp %d until %s", ts.Signed.Version, ts.Signed.Expires.Format(time.RFC3339)))
	return strings.Join(done, ", "), nil
}
