package update

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

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
}

// Check refreshes the signed metadata (freshness, signatures with the
// trusted thresholds, no older versions than seen before) and reads the
// release the channel points at, or the given version.
func Check(src Source, version string) (Offer, error) {
	var o Offer
	if err := os.MkdirAll(src.MetadataDir, 0o700); err != nil {
		return o, fmt.Errorf("check: %w", err)
	}
	base := strings.TrimSuffix(src.Server, "/")
	cfg, err := config.New(base+"/metadata", src.Root)
	if err != nil {
		return o, fmt.Errorf("check %s: %w", base, err)
	}
	cfg.RemoteTargetsURL = base + "/targets"
	cfg.LocalMetadataDir = src.MetadataDir
	cfg.LocalTargetsDir = filepath.Join(src.MetadataDir, "targets")
	cfg.PrefixTargetsWithHash = false
	if src.HTTP != nil {
		if err := cfg.SetDefaultFetcherHTTPClient(src.HTTP); err != nil {
			return o, err
		}
	}
	if err := cfg.SetDefaultFetcherRetry(0, 1); err != nil {
		return o, err
	}
	up, err := updater.New(cfg)
	if err != nil {
		return o, fmt.Errorf("check %s: %w", base, err)
	}
	if err := up.Refresh(); err != nil {
		return o, fmt.Errorf("check %s: the signed metadata are refused: %w", base, err)
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
	}
	return o, nil
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
