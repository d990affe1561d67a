// Command berth-bench boots the image N times and prints boot time and
// idle memory beside the floor: the same kernel booting a trivial Go init.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"berth.dev/berth/image"
	"berth.dev/berth/internal/layout"
	"berth.dev/berth/qemu"
)

func main() {
	build := flag.String("build", "build", "build directory of `make image`")
	n := flag.Int("n", 5, "boots of each kind")
	mem := flag.Int("m", 512, "memory in MiB")
	// Issue 14 states its Docker figure at 2 vCPUs, the same run as the floor.
	cpus := flag.Int("smp", 2, "virtual CPUs")
	starts := flag.Int("starts", 100, "container starts of each runtime (0: skip)")
	upgrades := flag.Int("upgrades", 3, "os-ctl upgrade runs (0: skip)")
	installs := flag.Int("installs", 1, "unattended installs from the ISO (0: skip)")
	flag.Parse()
	if err := run(*build, *n, *mem, *cpus, *starts, *upgrades, *installs); err != nil {
		fmt.Fprintln(os.Stderr, "berth-bench:", err)
		os.Exit(1)
	}
}

func run(buildDir string, n, mem, cpus, starts, upgrades, installs int) error {
	build := buildDir
	tmp, err := os.MkdirTemp("", "berth-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	floorInit, err := qemu.BuildFloorInit(tmp)
	if err != nil {
		return err
	}
	base := qemu.BuildAt(build).Direct("A")
	// The boot without verity keeps the release's other words.
	rel, err := image.ReadRelease(filepath.Join(build, "release", "release.json"))
	if err != nil {
		return err
	}
	base.MemoryMB, base.CPUs = mem, cpus
	var rootUp, toStage2, first, ready, used, rss, floor, firstBoot, online, search, allUp, allUpUsed, unverified []float64
	for i := 0; i < n; i++ {
		// Alternate so that a change in machine load hits both alike.
		cfg := base
		cfg.Dir = filepath.Join(tmp, fmt.Sprintf("floor%d", i))
		f, err := qemu.MeasureFloor(cfg, floorInit)
		if err != nil {
			return err
		}
		floor = append(floor, f.Seconds())

		// A machine's first boot creates STATE; the figures are of the
		// boots after it, the ones a machine lives with.
		cfg = base
		cfg.Dir = filepath.Join(tmp, fmt.Sprintf("berth%d", i))
		fb, err := qemu.MeasureBoot(cfg)
		if err != nil {
			return err
		}
		firstBoot = append(firstBoot, fb.Ready.Seconds())
		// The same machine also boots without the berth.verity word:
		// stage 1 then mounts the partition unchecked, and the difference
		// is what dm-verity costs the boot. The order alternates, so
		// that neither boot is always the warmer one.
		plain := cfg
		plain.Append = layout.Cmdline("A", rel.KernelArgs, nil)
		var s, u qemu.BootSample
		runs := []struct {
			cfg qemu.Config
			out *qemu.BootSample
		}{{cfg, &s}, {plain, &u}}
		if i%2 == 1 {
			runs[0], runs[1] = runs[1], runs[0]
		}
		for _, r := range runs {
			if *r.out, err = qemu.MeasureBoot(r.cfg); err != nil {
				return err
			}
		}
		first = append(first, s.FirstLine.Seconds())
		rootUp = append(rootUp, s.RootUp.Seconds())
		toStage2 = append(toStage2, s.Stage2.Seconds())
		ready = append(ready, s.Ready.Seconds())
		used = append(used, float64(s.UsedKB)/1024)
		rss = append(rss, float64(s.SysdRSSKB)/1024)
		online = append(online, s.Online.Seconds())
		search = append(search, float64(s.SearchMS))
		allUp = append(allUp, s.AllUp.Seconds())
		allUpUsed = append(allUpUsed, float64(s.AllUpKB)/1024)
		unverified = append(unverified, u.Ready.Seconds())
		fmt.Fprintf(os.Stderr, "boot %d: floor %.2fs, first line %.2fs, ready %.2fs (unverified %.2fs), used %.1f MiB\n",
			i+1, f.Seconds(), s.FirstLine.Seconds(), s.Ready.Seconds(), u.Ready.Seconds(), float64(s.UsedKB)/1024)
	}
	if n > 0 {
		fmt.Printf("direct boot (-kernel), TCG, %d MiB, %d vCPU, %d samples; a sample is a fresh machine's second or third boot (the unverified boot takes the other)\n", mem, cpus, n)
		fmt.Printf("%-40s %8s %8s %8s\n", "figure", "min", "median", "max")
		row := func(name string, s qemu.Stats, unit string) {
			fmt.Printf("%-40s %7.2f%s %7.2f%s %7.2f%s\n", name, s.Min, unit, s.Median, unit, s.Max, unit)
		}
		row("floor: QEMU start → first line", qemu.Summarize(floor), "s")
		row("berth: QEMU start → PID 1 first line", qemu.Summarize(first), "s")
		row("stage 1: /init → root mounted", qemu.Summarize(rootUp), "s")
		row("stage 1: /init → stage 2", qemu.Summarize(toStage2), "s")
		row("berth: QEMU start → ready line", qemu.Summarize(ready), "s")
		row("first boot (creates STATE): QEMU start → ready", qemu.Summarize(firstBoot), "s")
		row("ready, root not verified (no berth.verity)", qemu.Summarize(unverified), "s")
		var cost []float64
		for i := range ready {
			cost = append(cost, ready[i]-unverified[i])
		}
		row("dm-verity cost (ready − unverified ready)", qemu.Summarize(cost), "s")
		var gap []float64
		for i := range ready {
			gap = append(gap, ready[i]-floor[i])
		}
		row("ready − floor first line (goal ≤ 1.0 s)", qemu.Summarize(gap), "s")
		row("memory used at ready (before Docker)", qemu.Summarize(used), "M")
		row("QEMU start → all up, docker answers (≤15 s)", qemu.Summarize(allUp), "s")
		row("memory used, all up with Docker (≤200 MB)", qemu.Summarize(allUpUsed), "M")
		row("sysd RSS at ready (goal ≤ 15 MB)", qemu.Summarize(rss), "M")
		row("sysd start → network online (DHCP)", qemu.Summarize(online), "s")
		row("user-data search, none there (goal < 100 ms)", qemu.Summarize(search), "ms")
	}
	if starts > 0 {
		if err := containerStarts(tmp, buildDir, starts); err != nil {
			return err
		}
	}
	sizes(build)
	if upgrades > 0 {
		if err := upgradeRuns(tmp, build, upgrades); err != nil {
			return err
		}
	}
	return installRuns(tmp, build, installs)
}

// installRuns times unattended installs from the ISO to a blank disk.
func installRuns(tmp, build string, n int) error {
	var live, inst, ready []float64
	for i := 0; i < n; i++ {
		s, err := qemu.MeasureInstall(qemu.BuildAt(build), filepath.Join(tmp, fmt.Sprintf("install%d", i)))
		if err != nil {
			return fmt.Errorf("install: %w", err)
		}
		live, inst, ready = append(live, s.LiveReady.Seconds()), append(inst, s.Install.Seconds()), append(ready, s.Installed.Seconds())
	}
	if n == 0 {
		return nil
	}
	fmt.Printf("unattended install from the ISO to a blank 8 GiB SATA disk, OVMF, TCG, 1 vCPU, %d samples:\n", n)
	fmt.Printf("%-40s %8s %8s %8s\n", "figure", "min", "median", "max")
	for _, r := range []struct {
		name string
		xs   []float64
	}{{"QEMU start → live system ready", live}, {"install (checks → STATE written)", inst}, {"QEMU start → installed machine ready", ready}} {
		st := qemu.Summarize(r.xs)
		fmt.Printf("%-40s %7.2fs %7.2fs %7.2fs\n", r.name, st.Min, st.Median, st.Max)
	}
	return nil
}

func containerStarts(tmp, buildDir string, starts int) error {
	ctbench := filepath.Join(tmp, "berth-ctbench")
	gobuild := exec.Command("go", "build", "-o", ctbench, "./cmd/berth-ctbench")
	gobuild.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := gobuild.CombinedOutput(); err != nil {
		return fmt.Errorf("build berth-ctbench: %v: %s", err, out)
	}
	report, err := qemu.MeasureContainerStart(qemu.BuildAt(buildDir), filepath.Join(tmp, "ctbench"), ctbench, starts)
	if err != nil {
		return err
	}
	fmt.Printf("system container start, in the VM, %d starts each, alternating (goal: berth ≥ 10× faster than runc):\n%s", starts, report)
	return nil
}

func sizes(build string) {
	var slot int64
	for _, p := range append(image.ReleaseParts, "release.json") {
		if st, err := os.Stat(filepath.Join(build, "release", p)); err == nil {
			fmt.Printf("size %-35s %8.1f MiB\n", p, float64(st.Size())/(1<<20))
			slot += st.Size()
		}
	}
	// The system container images inside root.img, as built.
	imgs, _ := filepath.Glob(filepath.Join(build, "work", "images", "*.*fs"))
	for _, p := range imgs {
		if st, err := os.Stat(p); err == nil {
			fmt.Printf("size %-35s %8.1f MiB\n", "  in root.img: "+filepath.Base(p), float64(st.Size())/(1<<20))
		}
	}
	fmt.Printf("size %-35s %8.1f MiB (%.1f MB)\n", "slot in all (goal ≤ 200 MB)", float64(slot)/(1<<20), float64(slot)/1e6)
}

func upgradeRuns(tmp, build string, n int) error {
	// Three upgrades from the disk's release: to one that differs by its
	// version, from chunks and whole (the format before chunk indexes),
	// and to one that adds a Debian package (socat) to the console image.
	rel := func(v string) string { return filepath.Join(build, "test-releases", v, "release") }
	kinds := []struct {
		name, dir string
		whole     bool
	}{
		{"version only, delta", rel("0.2.0"), false},
		{"version only, whole", rel("0.2.0"), true},
		{"one package added, delta", rel("0.5.0"), false},
	}
	type figures struct{ installed, ready, good, served, ratio []float64 }
	got := make([]figures, len(kinds))
	for i := 0; i < n; i++ {
		for k, kind := range kinds {
			u, err := qemu.MeasureUpgrade(qemu.BuildAt(build), filepath.Join(tmp, fmt.Sprintf("upgrade%d-%d", i, k)), kind.dir, kind.whole)
			if err != nil {
				return fmt.Errorf("upgrade (%s): %w", kind.name, err)
			}
			f := &got[k]
			f.installed = append(f.installed, u.Installed.Seconds())
			f.ready, f.good = append(f.ready, u.Ready.Seconds()), append(f.good, u.Good.Seconds())
			f.served = append(f.served, float64(u.Served)/(1<<20))
			f.ratio = append(f.ratio, 100*float64(u.Served)/float64(u.Slot))
			fmt.Fprintf(os.Stderr, "upgrade %d (%s): installed %.1fs, ready %.1fs, good %.1fs, served %.1f MiB of a %.1f MiB slot, fetched %.1f MiB, reused %.1f MiB\n",
				i+1, kind.name, u.Installed.Seconds(), u.Ready.Seconds(), u.Good.Seconds(), float64(u.Served)/(1<<20), float64(u.Slot)/(1<<20),
				float64(u.Downloaded)/(1<<20), float64(u.Reused)/(1<<20))
		}
	}
	if n == 0 {
		return nil
	}
	fmt.Printf("os-ctl upgrade, OVMF + systemd-boot, TCG, %d samples each:\n", n)
	fmt.Printf("%-58s %8s %8s %8s\n", "figure", "min", "median", "max")
	for k, kind := range kinds {
		for _, r := range []struct {
			name string
			xs   []float64
			unit string
		}{
			{"upgrade start → installed, rebooting", got[k].installed, "s"},
			{"upgrade start → new slot ready", got[k].ready, "s"},
			{"upgrade start → health gate passed", got[k].good, "s"},
			{"bytes served (MiB)", got[k].served, "M"},
			{"bytes served / slot (goal: delta ≤ 5%, one package ≤ 10%)", got[k].ratio, "%"},
		} {
			st := qemu.Summarize(r.xs)
			fmt.Printf("%-58s %7.2f%s %7.2f%s %7.2f%s\n", kind.name+": "+r.name, st.Min, r.unit, st.Median, r.unit, st.Max, r.unit)
		}
	}
	return nil
}
