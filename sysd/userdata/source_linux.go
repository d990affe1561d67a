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
	if dev, fstype := blockdev.FindVolume("/sys/class/block", "CIDATA"); dev != "" {
		if load != nil {
			load(map[string]string{"vfat": "vfat", "iso9660": "isofs"}[fstype])
		}
		if err := os.MkdirAll(mnt, 0o755); err != nil {
			return nil, err
		}
		if err := unix.Mount(dev, mnt, fstype, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return nil, fmt.Errorf("NoCloud: mount %s (%s, labelled CIDATA) on %s: %w", dev, fstype, mnt, err)
		}
		defer unix.Unmount(mnt, 0)
		s := &Seed{Source: "nocloud:" + dev}
		var err error
		if s.UserData, err = readSeedFile(mnt, "user-data"); err != nil {
			return nil, err
		}
		if s.MetaData, err = readSeedFile(mnt, "meta-data"); err != nil {
			return nil, err
		}
		s.NetworkConfig, _ = readSeedFile(mnt, "network-config")
		return s, nil
	}
	return nil, nil
}

// readSeedFile reads one file of a seed; a missing one is empty.
func readSeedFile(dir, name string) ([]byte, error) {
	b, err := ReadLimited(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("NoCloud: %w", err)
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
// nothing quickly (no route) or times out within timeout.
func EC2(ctx context.Context, base string, timeout time.Duration) (*Seed, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	iid, err := get(ctx, base+"/latest/meta-data/instance-id", false)
	if err != nil {
		return nil, err
	}
	ud, err := get(ctx, base+"/latest/user-data", false)
	if err != nil {
		return nil, err
	}
	return &Seed{Source: "ec2:" + base, UserData: ud, MetaData: []byte("instance-id: " + string(bytes.TrimSpace(iid)) + "\n")}, nil
}

// get fetches url; with retry it tries again every second until ctx ends
// (the network may still be coming up).
func get(ctx context.Context, url string, retry bool) ([]byte, error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxSize))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && rerr == nil {
				return b, nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
			if resp.StatusCode == http.StatusNotFound {
				return nil, err
			}
		}
		if !retry {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("GET %s: %w (last: %v)", url, ctx.Err(), err)
		case <-time.After(time.Second):
		}
	}
}
