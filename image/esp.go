package image

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"berth.dev/berth/internal/layout"
)

// systemdBootEFI is systemd-boot where Debian's systemd-boot-efi
// package installs it.
const systemdBootEFI = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"

// bootLoader extracts systemd-boot from the lock's [boot] package and
// returns the EFI binary's path.
func bootLoader(c Config, pkgs []Pkg) (string, error) {
	debs, err := c.apt().Fetch(pkgs)
	if err != nil {
		return "", err
	}
	dir := c.work("boot")
	if err := Extract(debs, dir); err != nil {
		return "", err
	}
	p := filepath.Join(dir, systemdBootEFI)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("boot loader: the [boot] packages %v hold no %s", pkgs, systemdBootEFI)
	}
	return p, nil
}

// ESPFile is one file to put on the ESP: Src on the host, Dst on the ESP.
type ESPFile struct{ Src, Dst string }

// MakeESP writes a FAT image of sizeMB holding files, with mkfs.vfat and
// mtools: no loop device, no mount. Every file and directory is stamped
// with epoch (mtools reads SOURCE_DATE_EPOCH): the same inputs give the
// same bytes.
func MakeESP(out string, sizeMB int64, files []ESPFile, epoch time.Time) error {
	mtools := func(name string, args ...string) error {
		return runEnv([]string{"SOURCE_DATE_EPOCH=" + strconv.FormatInt(epoch.Unix(), 10)}, name, args...)
	}
	_ = os.Remove(out)
	if err := os.WriteFile(out, nil, 0o644); err != nil {
		return err
	}
	if err := os.Truncate(out, sizeMB*layout.MiB); err != nil {
		return err
	}
	// FAT32 wants 32 MiB and more; a smaller ESP (the ISO's) is FAT16.
	fat := "32"
	if sizeMB < 64 {
		fat = "16"
	}
	if err := run("mkfs.vfat", "-F", fat, "-n", layout.LabelESP, "-i", "0xBE47B007", "--invariant", out); err != nil {
		return err
	}
	dirs := map[string]bool{}
	var mk []string
	for _, f := range files {
		for d := path.Dir(f.Dst); d != "/" && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			mk = append(mk, d)
		}
	}
	// Parents first.
	sort.Slice(mk, func(i, j int) bool {
		di, dj := strings.Count(mk[i], "/"), strings.Count(mk[j], "/")
		return di < dj || di == dj && mk[i] < mk[j]
	})
	for _, d := range mk {
		if err := mtools("mmd", "-i", out, "::"+d); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := mtools("mcopy", "-o", "-i", out, f.Src, "::"+f.Dst); err != nil {
			return err
		}
	}
	return nil
}

func run(name string, args ...string) error { return runEnv(nil, name, args...) }

// runEnv runs a tool with env added to this process's environment.
func runEnv(env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Env = append(append(os.Environ(), "MTOOLS_SKIP_CHECK=1"), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
