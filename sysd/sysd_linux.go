package sysd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/cmdline"
	"berth.dev/berth/internal/console"
	"berth.dev/berth/internal/efivar"
	"berth.dev/berth/internal/osrelease"
	"berth.dev/berth/internal/reaper"
	"berth.dev/berth/sysd/agent"
	"berth.dev/berth/sysd/api"
	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/cgroup"
	"berth.dev/berth/sysd/datasource"
	"berth.dev/berth/sysd/fleet"
	"berth.dev/berth/sysd/install"
	"berth.dev/berth/sysd/logs"
	"berth.dev/berth/sysd/machine"
	"berth.dev/berth/sysd/network"
	"berth.dev/berth/sysd/service"
	"berth.dev/berth/sysd/storage"
	"berth.dev/berth/sysd/timesync"
)

// Paths on the running system.
const (
	machineIDPath = "/etc/machine-id"
	bootsPath     = "/var/lib/berth/boots"
	bootIDPath    = "/proc/sys/kernel/random/boot_id"
	logDir        = "/var/log/berth"
	cgroupDir     = "/sys/fs/cgroup/berth"
	containerInit = "/usr/lib/berth/container-init"
)

// Main runs sysd until SIGTERM, then stops every service in reverse
// order, and returns the exit status.
func Main(stdout io.Writer) int {
	if err := refuseOutsideBerth(os.Args[1:], os.Getppid()); err != nil {
		fmt.Fprintln(os.Stderr, "sysd:", err)
		return 2
	}
	ownLog := logs.New(logDir+"/sysd.log", 2000, 1<<20)
	// Every line for the console goes to the screen too, where there is
	// one.
	stdout = console.Mirror(stdout)
	l := console.Logger(io.MultiWriter(stdout, ownLog))
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT)

	version := osrelease.Version("/etc/os-release")
	raw, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		l.Printf("sysd: %v", err)
	}
	params := cmdline.Parse(string(raw))
	slot, err := params.Slot()
	if err != nil {
		l.Printf("sysd: %v", err)
		slot = "?"
	}
	// The installer medium's live system runs no slot: it does not
	// update, and it installs.
	_, live := params.Live()
	var installer *install.Installer
	if live {
		slot = "live"
		installer = install.Live()
	}
	l.Printf("sysd starting pid=%d", os.Getpid())
	// Orphans of services sharing the host's PID namespace come to sysd,
	// whose reaper collects them, rather than to PID 1.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		l.Printf("sysd: become subreaper: %v", err)
	}
	r := reaper.New()
	go r.Run(context.Background())

	id, err := machine.EnsureMachineID(machineIDPath)
	if err != nil {
		l.Printf("sysd: %v", err)
	}
	bootID, err := os.ReadFile(bootIDPath)
	if err != nil {
		l.Printf("sysd: boot ID: %v", err)
	}
	b, err := machine.RecordBoot(bootsPath, strings.TrimSpace(string(bootID)), version, slot)
	if err != nil {
		l.Printf("sysd: %v", err)
	}
	l.Printf("boot n=%d machine-id=%s", b.N, id)
	if e := efivar.LoaderEntrySelected("/sys/firmware/efi/efivars"); e != "" {
		l.Printf("boot loader entry=%s", e)
	}

	kernelLog := logs.New(logDir+"/kernel.log", 2000, 1<<20)
	udLog := logs.New(logDir+"/user-data.log", 1000, 1<<20)
	firmware := &machine.Firmware{}
	go logs.FollowKmsg(kernelLog, firmware.Observe)

	tree := cgroup.Tree{Dir: cgroupDir}
	if missing, err := tree.Init(); err != nil || len(missing) > 0 {
		l.Printf("sysd: cgroup %s: controllers missing %v: %v", cgroupDir, missing, err)
	}
	m := service.New(service.Config{
		Dirs:         []string{"/usr/lib/berth/services", "/etc/berth/services"},
		DisabledFile: "/etc/berth/disabled-services",
		ImagesDir:    "/usr/lib/berth/images",
		RunDir:       "/run/berth",
		LogDir:       logDir,
		Cgroups:      tree,
		Cmdline:      string(raw),
		Reaper:       r,
		Helper:       containerInit,
		Logs:         map[string]*logs.Log{"sysd": ownLog, "kernel": kernelLog, "user-data": udLog},
	})
	// Every state change on the console, as systemd's "Started …" lines.
	events, unsubscribe := m.Subscribe()
	defer unsubscribe()
	flush := make(chan chan struct{})
	go func() {
		for {
			select {
			case e := <-events:
				l.Printf("service %s: %s", e.Service, e)
			case done := <-flush:
				for len(events) > 0 {
					e := <-events
					l.Printf("service %s: %s", e.Service, e)
				}
				close(done)
				return
			}
		}
	}()
	// User-data from local datasources is applied before any service
	// starts: it may bring services, files and users they need.
	runner := &datasource.AdminRunner{Manager: m, Reaper: r, Cgroups: tree, Log: udLog, Helper: containerInit}
	searchStart := time.Now()
	url, nocloud := datasource.URL(string(raw))
	seed := datasource.Local(l, url == "")
	if seed == nil {
		l.Printf("user-data: none found on NoCloud (CIDATA) or fw_cfg; searched in %d ms", time.Since(searchStart).Milliseconds())
	}
	labels := fleet.EngineLabels(id, version)
	eff, late := datasource.Apply(l, seed, runner.Run, labels)
	sys := &system{version: version, slot: slot, machineID: id, boot: b, userdata: eff, cmdline: params, firmware: firmware}
	// STATE grows into the rest of its disk beside the boot, not in its
	// way: resize2fs works on the mounted file system.
	go func() {
		line, problem := storage.AtBoot(context.Background(), l.Printf, params, eff.Config.Berth.GrowState())
		sys.setStorage(line, problem)
	}()
	var upd *agent.Agent
	if !live {
		upd = agent.New(l, stdout, r, version, slot, sys.Reboot)
		upd.Configure(eff.Config.Berth.Update)
	} else {
		l.Printf("update: this is the live system: it does not update; os-ctl install puts Berth on a disk")
	}
	host, err := machine.EnsureHostname(id)
	if err != nil {
		l.Printf("sysd: %v", err)
	}
	if err := machine.EnsureHosts("/etc/hosts", host); err != nil {
		l.Printf("sysd: %v", err)
	}
	netCtx, stopNet := context.WithCancel(context.Background())
	netm := &network.Manager{Config: eff.Config.Berth.Network, ResolvConf: "/etc/resolv.conf", Logf: l.Printf,
		SetHostname: setHostnameFromDHCP(eff.Config.Hostname != "", l.Printf)}
	netDone := make(chan struct{})
	go func() {
		defer close(netDone)
		if err := netm.Run(netCtx); err != nil {
			l.Printf("network: %v", err)
		}
	}()
	servers := eff.Config.NTPServers
	if len(servers) == 0 {
		servers = []string{"pool.ntp.org"}
	}
	syncer := &timesync.Syncer{Servers: servers, Logf: l.Printf, Adjust: timesync.AdjustClock}
	go syncer.Run(netCtx, netm.Online())
	if f := fleet.FromUserData(netCtx, eff.Config, id, l.Printf); f != nil {
		sys.setFleet(f)
		if upd != nil {
			upd.SetCoordinator(f.Coord)
		}
	}
	m.SetTarget("network-online.target", &onlineTarget{net: netm, timeout: onlineTimeout(eff.Config), logf: l.Printf})
	if eff.Source == "none" {
		// No local user-data: look on the network once it is up, in the
		// background, so that a machine without any boots at full speed.
		go func() {
			seed := datasource.LaterNoCloud(netCtx, l)
			if seed == nil {
				seed = datasource.Network(netCtx, netm.Online(), url, nocloud, l.Printf)
			}
			if seed == nil {
				return
			}
			neff, late := datasource.Apply(l, seed, runner.Run, labels)
			if len(seed.NetworkConfig) > 0 || len(seed.NetworkData) > 0 {
				l.Printf("user-data: %s: its network configuration came after the network started: not applied", seed.Source)
			}
			sys.setUserData(neff)
			if upd != nil {
				upd.Configure(neff.Config.Berth.Update)
			}
			if f := fleet.FromUserData(netCtx, neff.Config, id, l.Printf); f != nil {
				sys.setFleet(f)
				if upd != nil {
					upd.SetCoordinator(f.Coord)
				}
			}
			install.FromUserData(installer, l.Printf, neff.Config.Berth.Install, seed.UserData, sys.Reboot)
			if err := m.Reload(); err != nil {
				l.Printf("sysd: %v", err)
			}
			late()
		}()
	}
	if err := m.Load(); err != nil {
		l.Printf("sysd: %v", err)
	}
	for _, st := range m.List() {
		for _, p := range st.Problems {
			l.Printf("service %s: %s", st.Name, p)
		}
	}
	m.StartAll()
	go late()
	var updates api.Updates
	if upd != nil {
		updates = upd
		go upd.RunGate(netCtx, m.List)
		go upd.Loop(netCtx)
	}
	var installs api.Installs
	if installer != nil {
		installs = installer
	}

	sys.bootMS = console.SinceBootMS()
	if ln, err := api.Listen(wire.DefaultSocket); err != nil {
		l.Printf("sysd: API: %v", err)
	} else {
		sys.net = netm
		go func() {
			if err := http.Serve(ln, api.Handler(m, sys, updates, installs)); err != nil {
				l.Printf("sysd: API: %v", err)
			}
		}()
	}

	// The readiness line is a stable, machine-readable contract: tests and
	// the benchmark match it exactly.
	fmt.Fprintf(stdout, "berth: ready version=%s slot=%s boot_ms=%d\n", version, slot, sys.bootMS)
	if used, total := machine.Memory(); total > 0 {
		l.Printf("memory used_kb=%d total_kb=%d sysd_rss_kb=%d", used, total, machine.SelfRSS())
	}
	go announceAllUp(l, m, sys)
	if seed != nil {
		install.FromUserData(installer, l.Printf, eff.Config.Berth.Install, seed.UserData, sys.Reboot)
	}

	s := <-sigs
	l.Printf("sysd stopping (%v): stopping services", s)
	m.StopAll()
	stopNet()
	select { // leases released
	case <-netDone:
	case <-time.After(3 * time.Second):
	}
	done := make(chan struct{})
	flush <- done
	<-done
	l.Printf("sysd: all services stopped")
	return 0
}

// refuseOutsideBerth keeps sysd from running anywhere but as PID 1's
// child on a Berth machine. Started by hand on another system (`sysd
// --help` on a developer's host), it would take over that host: write
// /etc/hosts and the host name, make cgroups, run DHCP on its links.
// sysd takes no arguments; os-ctl is the command for people.
func refuseOutsideBerth(args []string, ppid int) error {
	if len(args) > 0 {
		return fmt.Errorf("takes no arguments (got %q): it is Berth's system daemon, started by PID 1; os-ctl is the command to use", args)
	}
	if ppid != 1 {
		return errors.New("runs only as the child of PID 1 on a Berth machine, which starts it; refusing to run here (parent PID is not 1)")
	}
	return nil
}
