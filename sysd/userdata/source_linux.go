package userdata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/blockdev"
)

// FindNoCloud looks for a block device whose file system (vfat or
// ISO9660) is labelled CIDATA, as cloud-localds makes, mounts it read-only
// at mnt and reads user-data, meta-data and network-config from it. It
// returns nil when there is none.
func FindNoCloud(mnt string, load func(module string)) (*Seed, error) {
	return withVolume("CIDATA", mnt, load, func(dev string) (*Seed, error) {
		s := &Seed{Source: "nocloud:" + dev}
		var err error
		if s.UserData, err = readSeedFile(mnt, "user-data"); err != nil {
			return nil, err
		}
		if s.MetaData, err = readSeedFile(mnt, "meta-data"); err != nil {
			return nil, err
		}
		if s.NetworkConfig, err = readSeedFile(mnt, "network-config"); err != nil {
			return nil, err
		}
		return s, nil
	})
}

// ConfigDriveLabel is the label of OpenStack's config drive (an ISO9660
// or vfat volume).
const ConfigDriveLabel = "config-2"

// FindConfigDrive reads OpenStack's config drive: openstack/latest's
// user_data, meta_data.json (uuid: the instance ID; hostname) and
// network_data.json. It returns nil when there is none.
func FindConfigDrive(mnt string, load func(module string)) (*Seed, error) {
	return withVolume(ConfigDriveLabel, mnt, load, func(dev string) (*Seed, error) {
		dir := filepath.Join(mnt, "openstack", "latest")
		s := &Seed{Source: "configdrive:" + dev}
		var err error
		if s.UserData, err = readSeedFile(dir, "user_data"); err != nil {
			return nil, err
		}
		md, err := readSeedFile(dir, "meta_data.json")
		if err != nil {
			return nil, err
		}
		if s.NetworkData, err = readSeedFile(dir, "network_data.json"); err != nil {
			return nil, err
		}
		// A meta_data.json that does not parse costs the instance-id
		// and host name only: the user-data is still applied.
		if s.MetaData, err = openStackMetaData(md); err != nil {
			return s, fmt.Errorf("%s: openstack/latest/meta_data.json: %w", dev, err)
		}
		return s, nil
	})
}

// withVolume mounts the FAT or ISO9660 volume labelled label read-only at
// mnt for read; nil when no device has it.
func withVolume(label, mnt string, load func(module string), read func(dev string) (*Seed, error)) (*Seed, error) {
	dev, fstype := blockdev.FindVolume("/sys/class/block", label)
	if dev == "" {
		return nil, nil
	}
	if load != nil {
		load(map[string]string{"vfat": "vfat", "iso9660": "isofs"}[fstype])
	}
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return nil, err
	}
	if err := unix.Mount(dev, mnt, fstype, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return nil, fmt.Errorf("mount %s (%s, labelled %s) on %s: %w", dev, fstype, label, mnt, err)
	}
	defer unix.Unmount(mnt, 0)
	return read(dev)
}

// readSeedFile reads one file of a seed; a missing one is empty.
func readSeedFile(dir, name string) ([]byte, error) {
	b, err := ReadLimited(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	return b, nil
}

// ReadLimited reads a user-data file, at most maxSize bytes: a seed is
// outside input, and a huge file must not fill memory before a boot.
func ReadLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSize {
		return nil, fmt.Errorf("%s is larger than %d MiB", path, maxSize>>20)
	}
	return b, nil
}

// FwCfg reads opt/berth/user-data and opt/berth/meta-data from QEMU's
// fw_cfg (-fw_cfg name=opt/berth/user-data,file=…); nil when absent.
func FwCfg(root string) *Seed {
	dir := filepath.Join(root, "by_name/opt/berth")
	ud, err := os.ReadFile(filepath.Join(dir, "user-data/raw"))
	if err != nil {
		return nil
	}
	md, _ := os.ReadFile(filepath.Join(dir, "meta-data/raw"))
	return &Seed{Source: "fw_cfg", UserData: ud, MetaData: md}
}

// FetchURL reads a NoCloud seed over HTTP (ds=nocloud;s=URL/ fetches
// URL/user-data and URL/meta-data; berth.userdata=URL is the user-data
// alone), trying until ctx ends.
func FetchURL(ctx context.Context, base string, nocloud bool) (*Seed, error) {
	s := &Seed{Source: "url:" + base}
	if !nocloud {
		b, err := get(ctx, base, true)
		s.UserData = b
		return s, err
	}
	base = strings.TrimSuffix(base, "/") + "/"
	var err error
	if s.UserData, err = get(ctx, base+"user-data", true); err != nil {
		return nil, err
	}
	s.MetaData, _ = get(ctx, base+"meta-data", false)
	return s, nil
}

// EC2 asks the EC2-style metadata service; a machine without one answers
// nothing quickly (no route) or times out within timeout. It speaks
// IMDSv2 (a session token from PUT /latest/api/token, sent with every
// GET), the default and often the only version on new AWS instances, and
// falls back to IMDSv1 only when the service answers the PUT with an
// error (an older service or a look-alike that knows no tokens).
func EC2(ctx context.Context, base string, timeout time.Duration) (*Seed, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hdr := http.Header{}
	source := "ec2:" + base
	tok, err := fetch(ctx, http.MethodPut, base+"/latest/api/token", http.Header{"X-Aws-Ec2-Metadata-Token-Ttl-Seconds": {"21600"}}, false)
	var st *statusError
	switch {
	case err == nil:
		hdr.Set("X-Aws-Ec2-Metadata-Token", string(bytes.TrimSpace(tok)))
	case errors.As(err, &st):
		source += " (IMDSv1)"
	default:
		return nil, err
	}
	iid, err := fetch(ctx, http.MethodGet, base+"/latest/meta-data/instance-id", hdr, false)
	if err != nil {
		return nil, err
	}
	ud, err := fetch(ctx, http.MethodGet, base+"/latest/user-data", hdr, false)
	if errors.As(err, &st) && st.code == http.StatusNotFound {
		ud, err = nil, nil // an instance without user-data
	}
	if err != nil {
		return nil, err
	}
	return &Seed{Source: source, UserData: ud, MetaData: []byte("instance-id: " + string(bytes.TrimSpace(iid)) + "\n")}, nil
}

// GCEHost is the name Google's metadata server answers to; requests go to
// its link-local address (base) with this Host, so no DNS is needed.
const GCEHost = "metadata.google.internal"

// GCE asks Google Compute Engine's metadata server: the instance's ID and
// host name, and the user-data attribute (absent: no user-data). Every
// request carries Metadata-Flavor: Google, and an answer without it is
// not the metadata server's.
func GCE(ctx context.Context, base string, timeout time.Duration) (*Seed, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hdr := http.Header{"Metadata-Flavor": {"Google"}, "Host": {GCEHost}}
	get := func(p string) ([]byte, error) {
		return fetch(ctx, http.MethodGet, base+"/computeMetadata/v1/instance/"+p, hdr, false)
	}
	iid, err := get("id")
	if err != nil {
		return nil, err
	}
	host, _ := get("hostname")
	short, _, _ := strings.Cut(string(bytes.TrimSpace(host)), ".")
	ud, err := get("attributes/user-data")
	var st *statusError
	if errors.As(err, &st) && st.code == http.StatusNotFound {
		ud, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	md := fmt.Sprintf("instance-id: %q\nlocal-hostname: %q\n", bytes.TrimSpace(iid), short)
	return &Seed{Source: "gce:" + GCEHost, UserData: ud, MetaData: []byte(md)}, nil
}

// statusError is an HTTP answer other than 200 OK.
type statusError struct {
	method, url string
	code        int
}

// StatusCode is the HTTP status the server answered.
func (e *statusError) StatusCode() int { return e.code }

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.method, e.url, e.code, http.StatusText(e.code))
}

// get fetches url; with retry it tries again every second until ctx ends
// (the network may still be coming up).
func get(ctx context.Context, url string, retry bool) ([]byte, error) {
	return fetch(ctx, http.MethodGet, url, nil, retry)
}

// fetch is get with a method and headers. A Metadata-Flavor header asks
// for the same header in the answer (GCE's metadata server sends it).
func fetch(ctx context.Context, method, url string, hdr http.Header, retry bool) ([]byte, error) {
	for {
		req, err := http.NewRequestWithContext(ctx, method, url, nil)
		if err != nil {
			return nil, err
		}
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v[0]
				continue
			}
			req.Header[http.CanonicalHeaderKey(k)] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxSize))
			resp.Body.Close()
			flavor := hdr.Get("Metadata-Flavor")
			switch {
			case resp.StatusCode == http.StatusOK && rerr == nil && (flavor == "" || resp.Header.Get("Metadata-Flavor") == flavor):
				return b, nil
			case resp.StatusCode == http.StatusOK && rerr == nil:
				err = fmt.Errorf("%s %s: the answer has no Metadata-Flavor: %s header", method, url, flavor)
			case resp.StatusCode != http.StatusOK:
				err = &statusError{method: method, url: url, code: resp.StatusCode}
			default:
				err = fmt.Errorf("%s %s: %w", method, url, rerr)
			}
			if resp.StatusCode == http.StatusNotFound {
				return nil, err
			}
		}
		if !retry {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s %s: %w (last: %v)", method, url, ctx.Err(), err)
		case <-time.After(time.Second):
		}
	}
}
