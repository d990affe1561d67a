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
	"berth.dev/berth/update/chunk"
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

// KeyOptions says where the root keys go and how many sign.
type KeyOptions struct {
	// RootKeys is the directory of the root keys (root-N.key), apart
	// from the online keys: move it offline once init is done; only
	// rotate needs it. Empty: KEYS/root-keys.
	RootKeys string
	// Threshold of Count root keys must sign a new root (default 1 of 1).
	Threshold, Count int
}

func (o KeyOptions) rootDir(keys string) string {
	if o.RootKeys != "" {
		return o.RootKeys
	}
	return filepath.Join(keys, "root-keys")
}

// InitKeys makes a key for every role in dir and the first root of trust,
// dir/root.json, which images carry as what they trust.
func InitKeys(dir string, now time.Time) error { return InitKeysWith(dir, now, KeyOptions{}) }

// InitKeysWith is InitKeys with the root keys placed and counted by o.
func InitKeysWith(dir string, now time.Time, o KeyOptions) error {
	if _, err := os.Stat(filepath.Join(dir, "root.json")); err == nil {
		return fmt.Errorf("init keys: %s already holds a root of trust; refusing to replace it", dir)
	}
	o.Threshold, o.Count = max(o.Threshold, 1), max(o.Count, o.Threshold, 1)
	if o.Threshold > o.Count {
		return fmt.Errorf("init keys: a threshold of %d needs at least %d root keys", o.Threshold, o.Threshold)
	}
	rootDir := o.rootDir(dir)
	for _, d := range []string{dir, rootDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("init keys: %w", err)
		}
	}
	root := metadata.Root(now.Add(Expiry[metadata.ROOT]).UTC())
	var rootKeys []ed25519.PrivateKey
	for i := 1; i <= o.Count; i++ {
		priv, k, err := newKey(rootDir, fmt.Sprintf("root-%d", i))
		if err != nil {
			return fmt.Errorf("init keys: %w", err)
		}
		if err := root.Signed.AddKey(k, metadata.ROOT); err != nil {
			return fmt.Errorf("init keys: %w", err)
		}
		rootKeys = append(rootKeys, priv)
	}
	root.Signed.Roles[metadata.ROOT].Threshold = o.Threshold
	for _, role := range Roles[1:] {
		_, k, err := newKey(dir, role)
		if err != nil {
			return fmt.Errorf("init keys: %w", err)
		}
		if err := root.Signed.AddKey(k, role); err != nil {
			return fmt.Errorf("init keys: %w", err)
		}
	}
	if err := signRoot(root, rootKeys); err != nil {
		return err
	}
	return root.ToFile(filepath.Join(dir, "root.json"), true)
}

// newKey makes a key in dir as NAME.key and returns it with its public
// half as TUF metadata.
func newKey(dir, name string) (ed25519.PrivateKey, *metadata.Key, error) {
	return newKeyFile(filepath.Join(dir, name+".key"))
}

// newKeyFile makes a key in the file path.
func newKeyFile(path string) (ed25519.PrivateKey, *metadata.Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := writeSynced(path, p); err != nil {
		return nil, nil, err
	}
	k, err := metadata.KeyFromPublicKey(priv.Public())
	return priv, k, err
}

// Rotate replaces role's key: a new root version trusts the new key
// instead of the old, signed by the old root keys (and by the new ones
// when the root keys themselves rotate), so machines follow it without
// being reinstalled; then the repository is signed again with the new
// keys. The old key files are kept as NAME.key.old.
//
// It is atomic by rolling forward: the new keys and root are written
// beside the old as *.new, the repository gets the new root, and only
// then are the *.new files renamed into place. A rotation cut short is
// finished by the next rotate of the same role (and refused for another,
// as are publish and refresh, until then).
func (r Repo) Rotate(role string) error {
	if !slices.Contains(Roles, role) {
		return fmt.Errorf("rotate: %q is not a role (%s)", role, strings.Join(Roles, ", "))
	}
	if err := r.finishRotation(role); err != nil {
		return err
	}
	// Keys of a rotation cut short before its root was staged were never
	// used: start afresh.
	for _, d := range []string{r.Keys, r.rootKeys()} {
		stray, _ := filepath.Glob(filepath.Join(d, "*.key.new"))
		for _, f := range stray {
			os.Remove(f)
		}
	}
	root, err := metadata.Root().FromFile(filepath.Join(r.Keys, "root.json"))
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	oldRoot, err := metadata.Root().FromFile(filepath.Join(r.Keys, "root.json"))
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	rootKeys, err := loadRootKeys(r.rootKeys())
	if err != nil {
		return err
	}
	// The new keys, as *.new files: as many as the role has.
	dir := r.Keys
	names := []string{role}
	if role == metadata.ROOT {
		dir = r.rootKeys()
		names = nil
		for i := range root.Signed.Roles[metadata.ROOT].KeyIDs {
			names = append(names, fmt.Sprintf("root-%d", i+1))
		}
	}
	for _, id := range slices.Clone(root.Signed.Roles[role].KeyIDs) {
		if err := root.Signed.RevokeKey(id, role); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
	}
	var fresh []ed25519.PrivateKey
	for _, n := range names {
		priv, k, err := newKeyFile(filepath.Join(dir, n+".key.new"))
		if err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
		if err := root.Signed.AddKey(k, role); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
		fresh = append(fresh, priv)
	}
	root.Signed.Version++
	root.Signed.Expires = r.now().Add(Expiry[metadata.ROOT])
	root.ClearSignatures()
	// Signed by the keys the machines trust now, and, for a new root
	// key, by the new keys too (TUF checks both thresholds).
	if err := signRootBy(root, oldRoot, rootKeys); err != nil {
		return r.abandonRotation(dir, names, err)
	}
	if role == metadata.ROOT {
		if err := signRootBy(root, root, fresh); err != nil {
			return r.abandonRotation(dir, names, err)
		}
	}
	if err := root.ToFile(filepath.Join(r.Keys, "root.json.new"), true); err != nil {
		return r.abandonRotation(dir, names, err)
	}
	if err := crashPoint("staged"); err != nil {
		return err
	}
	return r.finishRotation(role)
}

// crashPoint is the tests' seam for a rotation cut short.
var crashPoint = func(string) error { return nil }

// abandonRotation removes the staged keys of a rotation that failed
// before anything was published.
func (r Repo) abandonRotation(dir string, names []string, err error) error {
	for _, n := range names {
		os.Remove(filepath.Join(dir, n+".key.new"))
	}
	os.Remove(filepath.Join(r.Keys, "root.json.new"))
	return fmt.Errorf("rotate: %w", err)
}

// rotationCutShort is the error of an operation that must wait for a
// rotation of role to be finished; op names the operation ("" for none).
func rotationCutShort(op, role string) error {
	if op != "" {
		op += ": "
	}
	return fmt.Errorf("%sa rotation of the %s key was cut short: run berth-release rotate --role %s to finish it first", op, role, role)
}

// pendingRotation names the role of a rotation staged and not finished.
func (r Repo) pendingRotation() (string, bool) {
	if _, err := os.Stat(filepath.Join(r.Keys, "root.json.new")); err != nil {
		return "", false
	}
	for _, role := range Roles[1:] {
		if _, err := os.Stat(filepath.Join(r.Keys, role+".key.new")); err == nil {
			return role, true
		}
	}
	return metadata.ROOT, true
}

// finishRotation completes a staged rotation of role: the repository gets
// the new root (N.root.json, root.json), then the keys directory's files
// are renamed into place, then the repository is signed with the new keys.
// Each step can be repeated, so a cut at any moment is finished by
// running it again.
func (r Repo) finishRotation(role string) error {
	pending, ok := r.pendingRotation()
	if !ok {
		return nil
	}
	if pending != role {
		return rotationCutShort("rotate", pending)
	}
	staged := filepath.Join(r.Keys, "root.json.new")
	root, err := metadata.Root().FromFile(staged)
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	if r.Dir != "" && role != metadata.ROOT {
		// First, what is served gets the new key's signature beside the
		// old: machines that have the new root accept it as well as
		// machines that do not yet, so no moment of the rotation
		// stops updates.
		nk, err := loadKeyFile(filepath.Join(r.Keys, role+".key.new"))
		if err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
		if err := r.signed(nil, "", "", map[string]ed25519.PrivateKey{role: nk}); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
	}
	if r.Dir != "" {
		if err := os.MkdirAll(r.meta(""), 0o755); err != nil {
			return err
		}
		for _, name := range []string{fmt.Sprintf("%d.root.json", root.Signed.Version), "root.json"} {
			if err := root.ToFile(r.meta(name), true); err != nil {
				return err
			}
		}
	}
	if err := crashPoint("published"); err != nil {
		return err
	}
	dir := r.Keys
	if role == metadata.ROOT {
		dir = r.rootKeys()
	}
	news, _ := filepath.Glob(filepath.Join(dir, "*.key.new"))
	for _, n := range news {
		final := strings.TrimSuffix(n, ".new")
		if _, err := os.Stat(final); err == nil {
			if err := os.Rename(final, final+".old"); err != nil {
				return fmt.Errorf("rotate: %w", err)
			}
		}
		if err := os.Rename(n, final); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
	}
	if role == metadata.ROOT {
		// A root.key of an older init is one of the keys replaced.
		if _, err := os.Stat(filepath.Join(dir, "root.key")); err == nil {
			os.Rename(filepath.Join(dir, "root.key"), filepath.Join(dir, "root.key.old"))
		}
	}
	if err := os.Rename(staged, filepath.Join(r.Keys, "root.json")); err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	if r.Dir == "" {
		return nil
	}
	return r.update(nil, "", "")
}

func loadKey(dir, role string) (ed25519.PrivateKey, error) {
	if _, err := os.Stat(filepath.Join(dir, role+".key")); err != nil {
		return nil, fmt.Errorf("%s key: %w (run berth-release init --keys %s)", role, err, dir)
	}
	return loadKeyFile(filepath.Join(dir, role+".key"))
}

// loadKeyFile reads an ed25519 key (PKCS#8 PEM).
func loadKeyFile(path string) (ed25519.PrivateKey, error) {
	role := filepath.Base(path)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("key %s: not PEM", path)
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

// loadRootKeys reads every root key in dir (root-N.key, and a root.key
// made by an older berth-release).
func loadRootKeys(dir string) ([]ed25519.PrivateKey, error) {
	names, _ := filepath.Glob(filepath.Join(dir, "root-*.key"))
	if _, err := os.Stat(filepath.Join(dir, "root.key")); err == nil {
		names = append(names, filepath.Join(dir, "root.key"))
	}
	var keys []ed25519.PrivateKey
	for _, n := range names {
		k, err := loadKey(dir, strings.TrimSuffix(filepath.Base(n), ".key"))
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// signRoot signs root with each of keys that it trusts for the root role,
// and fails unless that meets its threshold.
func signRoot(root *metadata.Metadata[metadata.RootType], keys []ed25519.PrivateKey) error {
	return signRootBy(root, root, keys)
}

// signRootBy signs root with the keys that trusted (a root, maybe the
// previous version) lists for the root role, up to what is needed, and
// checks trusted's threshold is met. Signatures already on root stay.
func signRootBy(root, trusted *metadata.Metadata[metadata.RootType], keys []ed25519.PrivateKey) error {
	role := trusted.Signed.Roles[metadata.ROOT]
	n := 0
	for _, k := range keys {
		mk, err := metadata.KeyFromPublicKey(k.Public())
		if err != nil {
			return err
		}
		id, err := mk.ID()
		if err != nil {
			return err
		}
		if !slices.Contains(role.KeyIDs, id) {
			continue
		}
		s, err := signature.LoadSigner(k, crypto.Hash(0))
		if err != nil {
			return fmt.Errorf("load signer: %w", err)
		}
		if _, err := root.Sign(s); err != nil {
			return fmt.Errorf("sign root: %w", err)
		}
		n++
	}
	if n < role.Threshold {
		return fmt.Errorf("sign root version %d: %d of the root keys of version %d are at hand, it needs %d (give --root-keys DIR)",
			root.Signed.Version, n, trusted.Signed.Version, role.Threshold)
	}
	return nil
}

// sign replaces m's signatures with those of keys (nil ones skipped).
func sign[T metadata.Roles](m *metadata.Metadata[T], keys ...ed25519.PrivateKey) error {
	m.ClearSignatures()
	for _, key := range keys {
		if key == nil {
			continue
		}
		s, err := signature.LoadSigner(key, crypto.Hash(0))
		if err != nil {
			return fmt.Errorf("load signer: %w", err)
		}
		if _, err := m.Sign(s); err != nil {
			return fmt.Errorf("sign: %w", err)
		}
	}
	return nil
}

// Repo is a release repository directory being changed by the holder of
// the keys in Keys.
type Repo struct {
	Dir, Keys string
	// RootKeys is the directory of the root keys, needed only to rotate
	// (empty: KEYS/root-keys, or KEYS for a root.key of an older init).
	RootKeys string
	Now      func() time.Time
	// Whole publishes the parts without chunk indexes: machines then
	// download each part whole, as releases published before indexes
	// existed are.
	Whole bool
}

func (r Repo) rootKeys() string {
	if r.RootKeys != "" {
		return r.RootKeys
	}
	old, _ := filepath.Glob(filepath.Join(r.Keys, "root*.key"))
	if len(old) > 0 {
		return r.Keys // an older init's layout
	}
	return filepath.Join(r.Keys, "root-keys")
}

// writeSynced writes a new private file and syncs it: a key must be on
// disk before anything signed with it is published.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
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
	st, err := os.Stat(filepath.Join(dir, "root.img"))
	if err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	if err := rel.Check(st.Size()); err != nil {
		return "", fmt.Errorf("publish: %s/release.json: %w", dir, err)
	}
	files := map[string][]byte{}
	for _, name := range append([]string{"release.json"}, update.PartNames...) {
		dst := filepath.Join(r.Dir, "targets", "releases", rel.Version, name)
		if err := copyfile.Copy(filepath.Join(dir, name), dst); err != nil {
			return "", fmt.Errorf("publish: %w", err)
		}
		files["releases/"+rel.Version+"/"+name] = nil
	}
	for _, name := range update.PartNames {
		if r.Whole {
			break
		}
		ix, err := r.chunkPart(filepath.Join(dir, name), name)
		if err != nil {
			return "", fmt.Errorf("publish: %w", err)
		}
		target := "releases/" + rel.Version + "/" + update.IndexName(name)
		if err := os.WriteFile(filepath.Join(r.Dir, "targets", filepath.FromSlash(target)), ix.Marshal(), 0o644); err != nil {
			return "", fmt.Errorf("publish: %w", err)
		}
		files[target] = nil
	}
	return rel.Version, r.update(files, channel, rel.Version)
}

// chunkPart puts the part's chunks in the repository's chunk store (each
// once: what an earlier release has is not written again) and returns
// its index.
func (r Repo) chunkPart(path, name string) (*chunk.Index, error) {
	store := chunk.Store{Dir: filepath.Join(r.Dir, update.ChunkDir)}
	return chunk.IndexFile(path, name, store.Put)
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
	if role, ok := r.pendingRotation(); ok {
		return rotationCutShort("", role)
	}
	return r.signed(files, channel, version, nil)
}

// signed is update with, for one role, a second key that signs beside
// the current one (a rotation's new key, so that machines on the old root
// and on the new one both accept what is served).
func (r Repo) signed(files map[string][]byte, channel, version string, also map[string]ed25519.PrivateKey) error {
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
	if err := sign(targets, keys[metadata.TARGETS], also[metadata.TARGETS]); err != nil {
		return err
	}
	snapshot := metadata.Snapshot(now.Add(Expiry[metadata.SNAPSHOT]))
	if old, err := metadata.Snapshot().FromFile(r.meta("snapshot.json")); err == nil {
		snapshot.Signed.Version = old.Signed.Version + 1
	}
	snapshot.Signed.Meta["targets.json"] = metadata.MetaFile(targets.Signed.Version)
	if err := sign(snapshot, keys[metadata.SNAPSHOT], also[metadata.SNAPSHOT]); err != nil {
		return err
	}
	timestamp := metadata.Timestamp(now.Add(Expiry[metadata.TIMESTAMP]))
	if old, err := metadata.Timestamp().FromFile(r.meta("timestamp.json")); err == nil {
		timestamp.Signed.Version = old.Signed.Version + 1
	}
	timestamp.Signed.Meta["snapshot.json"] = metadata.MetaFile(snapshot.Signed.Version)
	if err := sign(timestamp, keys[metadata.TIMESTAMP], also[metadata.TIMESTAMP]); err != nil {
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
	if role, ok := r.pendingRotation(); ok {
		return "", rotationCutShort("refresh", role)
	}
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
