package update

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"berth.dev/berth/update/chunk"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

// TrustedRootPath is where the root image holds the release repository's
// root of trust: a release is installed only if metadata signed from it
// say so.
const TrustedRootPath = "/usr/lib/berth/update/root.json"

// Source is where a machine looks for releases and what it trusts.
type Source struct {
	Server  string // the repository's base URL
	Channel string
	Root    []byte // the root of trust the image carries (root.json)
	// MetadataDir keeps the newest metadata seen (on STATE): TUF refuses
	// anything older afterwards, so a mirror cannot roll a machine back.
	MetadataDir string
	HTTP        *http.Client
	Arch        string // the running machine's, e.g. amd64
}

// Offer is a verified release a channel points at, with the signed length
// and SHA-256 of each part to download.
type Offer struct {
	Release
	Parts map[string]Target // by part name
	// Indexes are the parts' chunk indexes, for the parts the release
	// has one for (a repository published before them has none: those
	// parts are downloaded whole). Each was a signed target, and says it
	// describes exactly its part's signed length and SHA-256.
	Indexes map[string]*chunk.Index
	// Chunks is the repository's chunk store's base URL.
	Chunks string
}

// Check refreshes the signed metadata (freshness, signatures with the
// trusted thresholds, no older versions than seen before) and reads the
// release the channel points at, or the given version.
//
// It ends within CheckTimeout, or when ctx ends: go-tuf's fetcher takes
// no context, so each of its requests carries ours, and a server that
// sends headers and then nothing cannot hold the updater's lock.
func Check(ctx context.Context, src Source, version string) (Offer, error) {
	var o Offer
	if err := os.MkdirAll(src.MetadataDir, 0o700); err != nil {
		return o, fmt.Errorf("check: %w", err)
	}
	base := strings.TrimSuffix(src.Server, "/")
	root, err := trustedRoot(src)
	if err != nil {
		return o, fmt.Errorf("check %s: %w", base, err)
	}
	cfg, err := config.New(base+"/metadata", root)
	if err != nil {
		return o, fmt.Errorf("check %s: %w", base, err)
	}
	cfg.RemoteTargetsURL = base + "/targets"
	cfg.LocalMetadataDir = src.MetadataDir
	cfg.LocalTargetsDir = filepath.Join(src.MetadataDir, "targets")
	cfg.PrefixTargetsWithHash = false
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	base0 := http.DefaultTransport
	if src.HTTP != nil && src.HTTP.Transport != nil {
		base0 = src.HTTP.Transport
	}
	if err := cfg.SetDefaultFetcherHTTPClient(&http.Client{Transport: ctxTransport{ctx, base0}}); err != nil {
		return o, err
	}
	if err := cfg.SetDefaultFetcherRetry(0, 1); err != nil {
		return o, err
	}
	up, err := updater.New(cfg)
	if err != nil {
		return o, fmt.Errorf("check %s: %w", base, err)
	}
	if err := up.Refresh(); err != nil {
		if ctx.Err() != nil {
			return o, fmt.Errorf("check %s: no answer within %v: %w", base, CheckTimeout, ctx.Err())
		}
		return o, fmt.Errorf("check %s: the signed metadata are refused (trust starts from the root kept in %s, or the image's if newer): %w", base, src.MetadataDir, err)
	}
	get := func(name string, v any) error {
		ti, err := up.GetTargetInfo(name)
		if err != nil {
			return fmt.Errorf("check %s: %s: %w", base, name, err)
		}
		// DownloadTarget verifies length and hashes against the metadata.
		_, data, err := up.DownloadTarget(ti, "", "")
		if err != nil {
			return fmt.Errorf("check %s: %s: %w", base, name, err)
		}
		return json.Unmarshal(data, v)
	}
	// An index is refused unless it is a signed target (its bytes are
	// what the metadata pin) and it describes the part that is.
	index := func(name string, part Target) (*chunk.Index, error) {
		p := "releases/" + version + "/" + IndexName(name)
		ti, err := up.GetTargetInfo(p)
		if err != nil {
			return nil, nil // no index: the part comes whole
		}
		_, data, err := up.DownloadTarget(ti, "", "")
		if err != nil {
			return nil, fmt.Errorf("check %s: %s: %w", base, p, err)
		}
		ix, err := chunk.Parse(p, data)
		if err != nil {
			return nil, fmt.Errorf("check %s: %w", base, err)
		}
		if ix.Part != name || ix.Size != part.Length || ix.SHA256 != part.SHA256 {
			return nil, fmt.Errorf("check %s: %s describes %s of %d bytes with SHA-256 %s, the signed part is %d bytes with %s",
				base, p, ix.Part, ix.Size, ix.SHA256, part.Length, part.SHA256)
		}
		return ix, nil
	}
	if version == "" {
		var ch ChannelFile
		if err := get("channels/"+src.Channel+".json", &ch); err != nil {
			return o, fmt.Errorf("%w (is %q a channel of this repository?)", err, src.Channel)
		}
		version = ch.Version
	}
	if err := get("releases/"+version+"/release.json", &o.Release); err != nil {
		return o, err
	}
	if o.Version != version {
		return o, fmt.Errorf("check %s: release %s says it is %s", base, version, o.Version)
	}
	if src.Arch != "" && o.Architecture != src.Arch {
		return o, fmt.Errorf("check %s: release %s is for %s, this machine is %s", base, version, o.Architecture, src.Arch)
	}
	o.Parts = map[string]Target{}
	for _, name := range PartNames {
		p := "releases/" + version + "/" + name
		ti, err := up.GetTargetInfo(p)
		if err != nil {
			return o, fmt.Errorf("check %s: %s: %w", base, p, err)
		}
		u, _ := url.JoinPath(base, "targets", p)
		o.Parts[name] = Target{URL: u, Length: ti.Length, SHA256: ti.Hashes["sha256"].String()}
		ix, err := index(name, o.Parts[name])
		if err != nil {
			return o, err
		}
		if ix != nil {
			if o.Indexes == nil {
				o.Indexes = map[string]*chunk.Index{}
			}
			o.Indexes[name] = ix
		}
	}
	o.Chunks = base + "/" + ChunkDir + "/"
	// The tree must lie inside the root image as signed, not only as
	// release.json says it is.
	if err := o.Release.Check(o.Parts["root.img"].Length); err != nil {
		return o, fmt.Errorf("check %s: release %s: %w", base, version, err)
	}
	return o, nil
}

// CheckTimeout bounds one check: the metadata are kilobytes.
var CheckTimeout = 2 * time.Minute

// ctxTransport gives every request of go-tuf's fetcher the check's
// context.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(r.WithContext(t.ctx))
}

// trustedRoot is the root to start from: the newest root.json the
// machine has verified and kept (MetadataDir), when its version is at
// least the image's. Starting from the image's each time would let a
// retired root key sign a new version 2 again: go-tuf's updater then
// overwrites the stored root with the image's. A stored root that does
// not parse is ignored: the image's is always a safe start. (A machine moved
// to another repository whose root is older than the one kept is refused
// until the kept metadata are removed; the error says where they are.)
func trustedRoot(src Source) ([]byte, error) {
	img, err := metadata.Root().FromBytes(src.Root)
	if err != nil {
		return nil, fmt.Errorf("the image's root of trust: %w", err)
	}
	kept, err := os.ReadFile(filepath.Join(src.MetadataDir, "root.json"))
	if err != nil {
		return src.Root, nil
	}
	st, err := metadata.Root().FromBytes(kept)
	// On a tie the image's wins: equal versions that differ are another
	// repository's, which a new image may have moved to.
	if err != nil || st.Signed.Version <= img.Signed.Version {
		return src.Root, nil
	}
	return kept, nil
}

// Newer reports whether version a is newer than b, comparing dotted
// numbers (0.10.0 > 0.9.1); a part that is not a number compares as text.
func Newer(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y string
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		nx, ex := strconv.Atoi(x)
		ny, ey := strconv.Atoi(y)
		switch {
		case ex == nil && ey == nil && nx != ny:
			return nx > ny
		case (ex != nil || ey != nil) && x != y:
			return x > y
		}
	}
	return false
}

// ErrUpToDate says the channel offers the release that runs.
var ErrUpToDate = errors.New("nothing to do")

// Allowed refuses a downgrade unless asked for: running → offered.
func Allowed(running, offered string, allowDowngrade bool) error {
	switch {
	case offered == running:
		return fmt.Errorf("release %s is the one running: %w", offered, ErrUpToDate)
	case Newer(running, offered) && !allowDowngrade:
		return fmt.Errorf("release %s is older than the running %s: a downgrade needs --allow-downgrade", offered, running)
	}
	return nil
}
