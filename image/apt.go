package image

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Apt is the builder's own apt: the archive and suites come from
// rootfs/apt/ (committed with the code), the package lists and the
// downloaded .deb files live under build/. Nothing of the build host's
// apt (its /etc/apt sources, preferences, keys, lists or dpkg status)
// takes part, so one commit resolves and downloads the same packages on
// any host that has apt-get and Debian's archive keyring.
type Apt struct {
	// Sources is the deb822 sources file (rootfs/apt/debian.sources).
	Sources string
	// Dir holds apt's configuration and state: apt.conf, etc/, lists/.
	Dir string
	// Cache holds the downloaded .deb files, kept between builds.
	Cache string
}

// NewApt is the apt a build uses: rootfs's sources, state in dir (the
// build's apt/), packages in cache.
func NewApt(rootfs, dir, cache string) Apt {
	return Apt{Sources: filepath.Join(rootfs, "apt", "debian.sources"), Dir: dir, Cache: cache}
}

// config writes Dir/apt.conf and returns its path. Every directory apt
// reads or writes is under Dir; the status file is empty, so resolution
// starts from nothing installed.
func (a Apt) config() (string, error) {
	dir, err := filepath.Abs(a.Dir)
	if err != nil {
		return "", err
	}
	for _, d := range []string{"etc/apt.conf.d", "etc/preferences.d", "etc/sources.list.d", "etc/trusted.gpg.d", "lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", fmt.Errorf("apt state %s: %w", dir, err)
		}
	}
	src, err := os.ReadFile(a.Sources)
	if err != nil {
		return "", fmt.Errorf("apt sources: %w", err)
	}
	if err := writeIfChanged(filepath.Join(dir, "etc/sources.list.d/debian.sources"), src); err != nil {
		return "", err
	}
	// Absolute paths throughout: apt takes a relative Dir::State against
	// the working directory, not against Dir.
	conf := fmt.Sprintf(`// Written by berth-image from %[1]s: the builder's own apt.
Dir "%[2]s/";
Dir::Etc "%[2]s/etc/";
Dir::Etc::main "apt.conf";
Dir::Etc::parts "apt.conf.d/";
Dir::Etc::sourcelist "sources.list";
Dir::Etc::sourceparts "sources.list.d/";
Dir::Etc::preferences "preferences";
Dir::Etc::preferencesparts "preferences.d/";
Dir::Etc::trusted "trusted.gpg";
Dir::Etc::trustedparts "trusted.gpg.d/";
Dir::State "%[2]s/";
Dir::State::lists "%[2]s/lists/";
Dir::State::status "/dev/null";
Dir::Cache "%[2]s/cache/";
Dir::Log "%[2]s/log/";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
APT::Install-Recommends "false";
Acquire::Languages "none";
Acquire::Retries "3";
`, a.Sources, dir)
	p := filepath.Join(dir, "apt.conf")
	return p, writeIfChanged(p, []byte(conf))
}

func writeIfChanged(p string, b []byte) error {
	if old, err := os.ReadFile(p); err == nil && string(old) == string(b) {
		return nil
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return fmt.Errorf("apt state: %w", err)
	}
	return nil
}

// command is apt-get with the builder's configuration.
func (a Apt) command(args ...string) (*exec.Cmd, error) {
	conf, err := a.config()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("apt-get", args...)
	cmd.Env = append(os.Environ(), "APT_CONFIG="+conf, "LC_ALL=C.UTF-8")
	return cmd, nil
}

// Update fetches the package lists of the sources, checked against
// Debian's archive keyring.
func (a Apt) Update() error {
	cmd, err := a.command("update", "-q")
	if err != nil {
		return err
	}
	out, err := cmd.CombinedOutput()
	if err == nil && (strings.Contains(string(out), "W: Failed to fetch") || strings.Contains(string(out), "W: GPG error") ||
		strings.Contains(string(out), "W: Some index files failed")) {
		// apt-get update exits 0 when a source fails (a bad key, an
		// unreachable mirror) and only warns: the lists would be stale.
		err = errors.New("a source failed")
	}
	if err != nil {
		return fmt.Errorf("apt-get update (sources %s): %w: %s", a.Sources, err, lastLines(string(out), 5))
	}
	return nil
}

// ensureLists runs Update unless it has run: apt knows no package
// without the lists.
func (a Apt) ensureLists() error {
	if m, _ := filepath.Glob(filepath.Join(a.Dir, "lists", "*_Packages*")); len(m) > 0 {
		return nil
	}
	return a.Update()
}

// Resolve asks apt for the full dependency closure of names as if nothing
// were installed, without recommends.
func (a Apt) Resolve(names []string) ([]Pkg, error) {
	if err := a.ensureLists(); err != nil {
		return nil, err
	}
	cmd, err := a.command(append([]string{"-s", "-o", "APT::Get::Show-Versions=1", "install"}, names...)...)
	if err != nil {
		return nil, err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("apt-get -s install %s: %w: %s", strings.Join(names, " "), err, lastLines(string(out), 5))
	}
	ps := ParseSimulation(string(out))
	if len(ps) == 0 {
		return nil, fmt.Errorf("apt-get -s install %s resolved nothing", strings.Join(names, " "))
	}
	return ps, nil
}

// Fetch downloads the packages into the cache unless there already, with
// apt-get, which checks each against the signed lists. It returns the
// .deb paths in the order of pkgs. Lists that are missing or older than
// a pinned version are fetched again once.
func (a Apt) Fetch(pkgs []Pkg) ([]string, error) {
	if err := os.MkdirAll(a.Cache, 0o755); err != nil {
		return nil, err
	}
	var paths, missing []string
	for _, p := range pkgs {
		f := filepath.Join(a.Cache, p.DebFile())
		paths = append(paths, f)
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, p.String())
		}
	}
	if len(missing) > 0 {
		if err := a.ensureLists(); err != nil {
			return nil, err
		}
		err := a.download(missing)
		if err != nil {
			if uerr := a.Update(); uerr != nil {
				return nil, errors.Join(err, uerr)
			}
			err = a.download(missing)
		}
		if err != nil {
			return nil, err
		}
	}
	for i, f := range paths {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("package %s: apt-get download left no %s", pkgs[i], f)
		}
	}
	return paths, nil
}

func (a Apt) download(pkgs []string) error {
	cmd, err := a.command(append([]string{"download", "-q"}, pkgs...)...)
	if err != nil {
		return err
	}
	cmd.Dir = a.Cache
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get download %s: %w: %s\n(if a pinned version has left the archive (%s), run `make lock`)",
			strings.Join(pkgs, " "), err, lastLines(string(out), 5), a.Sources)
	}
	return nil
}
