// Package datasource is where sysd's user-data comes from at boot and how
// it is applied: the local datasources (NoCloud, fw_cfg) before any
// service starts, the network ones (a URL on the kernel command line, the
// EC2-style metadata service) once the network is online, the effective
// configuration kept on STATE, and the runner of user-data's commands.
package datasource

import (
	"context"
	"errors"
	"os"
	"strings"
	"time"

	"berth.dev/berth/internal/cmdline"
	"berth.dev/berth/internal/kmod"
	"berth.dev/berth/internal/layout"
	"berth.dev/berth/sysd/userdata"
)

// Local tries the datasources that need no network, in the documented
// order: NoCloud (a CIDATA volume), OpenStack's config drive (config-2),
// then, unless the kernel command line names a URL (which comes before
// them), QEMU's fw_cfg and the user-data the installer left on STATE.
func Local(l interface{ Printf(string, ...any) }, fwcfg bool) *userdata.Seed {
	if s := noCloud(l); s != nil {
		return s
	}
	if s := configDrive(l); s != nil {
		return s
	}
	if !fwcfg {
		return nil
	}
	if s := fwCfg(l); s != nil {
		return s
	}
	return installed(l, layout.InstalledUserData)
}

// installed reads the user-data os-ctl install (or berth.install) left on
// the installed disk's STATE for its boots.
func installed(l interface{ Printf(string, ...any) }, path string) *userdata.Seed {
	b, err := userdata.ReadLimited(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			l.Printf("user-data: %v", err)
		}
		return nil
	}
	return &userdata.Seed{Source: "installed:" + path, UserData: b}
}

func fwCfg(l interface{ Printf(string, ...any) }) *userdata.Seed {
	// fw_cfg exists only under QEMU; its ports are touched only there.
	if vendor, _ := os.ReadFile("/sys/class/dmi/id/sys_vendor"); strings.TrimSpace(string(vendor)) != "QEMU" {
		return nil
	}
	files, err := userdata.FwCfgPorts(fwCfgUserData, fwCfgMetaData)
	if err != nil {
		// No port access (another architecture, a locked-down kernel):
		// the module's sysfs files, at the cost of loading it.
		if _, err := os.Stat("/sys/firmware/qemu_fw_cfg"); err != nil {
			for _, err := range kmod.LoadAll([]string{"qemu_fw_cfg"}) {
				l.Printf("user-data: load qemu_fw_cfg: %v", err)
			}
		}
		return userdata.FwCfg("/sys/firmware/qemu_fw_cfg")
	}
	if ud, ok := files[fwCfgUserData]; ok {
		return &userdata.Seed{Source: "fw_cfg", UserData: ud, MetaData: files[fwCfgMetaData]}
	}
	return nil
}

// The fw_cfg files Berth reads (-fw_cfg name=opt/berth/user-data,file=…).
const (
	fwCfgUserData = "opt/berth/user-data"
	fwCfgMetaData = "opt/berth/meta-data"
)

func noCloud(l interface{ Printf(string, ...any) }) *userdata.Seed {
	s, err := userdata.FindNoCloud("/run/berth/seed", loader(l))
	if err != nil {
		l.Printf("user-data: NoCloud: %v", err)
	}
	return s
}

func configDrive(l interface{ Printf(string, ...any) }) *userdata.Seed {
	s, err := userdata.FindConfigDrive("/run/berth/seed", loader(l))
	if err != nil {
		l.Printf("user-data: config drive: %v", err)
	}
	return s
}

// loader loads a file system's module for a seed volume.
func loader(l interface{ Printf(string, ...any) }) func(string) {
	return func(mod string) {
		for _, err := range kmod.LoadAll([]string{mod}) {
			l.Printf("user-data: load %s: %v", mod, err)
		}
	}
}

// LaterNoCloud looks for a CIDATA volume again once PID 1 has loaded the
// root's modules (a CD-ROM appears only with sr_mod): the first search
// does not wait for them, so that a machine without user-data boots at
// full speed.
func LaterNoCloud(ctx context.Context, l interface{ Printf(string, ...any) }) *userdata.Seed {
	if _, err := os.Stat(kmod.DoneFile); err == nil {
		return nil // every device was there for the first search
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(kmod.DoneFile); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
	if s := noCloud(l); s != nil {
		return s
	}
	return configDrive(l)
}

// Network tries the datasources that need the network, once it is
// online: the kernel command line's ds=nocloud;s=URL or berth.userdata=URL,
// then the metadata service (GCE's on Google's machines, else EC2's) with
// short timeouts.
func Network(ctx context.Context, online <-chan struct{}, url string, nocloud bool, logf func(string, ...any)) *userdata.Seed {
	select {
	case <-online:
	case <-ctx.Done():
		return nil
	}
	if url != "" {
		fctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		s, err := userdata.FetchURL(fctx, url, nocloud)
		if err != nil {
			logf("user-data: %v", err)
			return nil
		}
		return s
	}
	// In the background, after the boot: time enough for a slow metadata
	// service (a loaded TCG host took over 10 s for IMDSv2's three
	// requests), none lost to the boot.
	// Google's machines say so in their DMI data; every other machine is
	// asked EC2's way (AWS, and the many clouds that copy it).
	ask := userdata.EC2
	if onGCE("/sys/class/dmi/id") {
		ask = userdata.GCE
	}
	s, err := ask(ctx, metadataService, 30*time.Second)
	if err != nil {
		// No metadata service is the usual case, not worth a line; a
		// service that answered wrongly, or any trouble on GCE, is.
		var st interface{ StatusCode() int }
		if onGCE("/sys/class/dmi/id") || errors.As(err, &st) {
			logf("user-data: metadata service: %v", err)
		}
		return nil
	}
	return s
}

// metadataService is the link-local address EC2's and GCE's metadata
// services answer at.
const metadataService = "http://169.254.169.254"

// onGCE says whether DMI names Google Compute Engine.
func onGCE(dmi string) bool {
	product, _ := os.ReadFile(dmi + "/product_name")
	vendor, _ := os.ReadFile(dmi + "/sys_vendor")
	return strings.TrimSpace(string(product)) == "Google Compute Engine" || strings.TrimSpace(string(vendor)) == "Google"
}

// URL reads ds=nocloud;s=URL (NoCloud over HTTP: URL/user-data and
// URL/meta-data) or berth.userdata=URL (the user-data itself).
// The last such word wins.
func URL(line string) (url string, nocloud bool) {
	for _, w := range cmdline.Parse(line).Words {
		if v, ok := strings.CutPrefix(w, "berth.userdata="); ok {
			url, nocloud = v, false
		}
		for _, p := range []string{"ds=nocloud;s=", "ds=nocloud-net;s="} {
			if v, ok := strings.CutPrefix(w, p); ok {
				url, nocloud = v, true
			}
		}
	}
	return url, nocloud
}
