package datasource

import (
	"context"
	"encoding/json"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/atomicfile"
	"berth.dev/berth/internal/kmod"
	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/userdata"
)

const (
	userdataDir   = "/var/lib/berth/userdata"
	effectivePath = userdataDir + "/effective.json"
)

// Apply parses the seed, reports every problem on the console,
// applies what is valid before services start, and returns what runs
// after them (runcmd, scripts) and the effective configuration.
// engineLabels are daemon.json's labels for a machine in a swarm.
func Apply(l interface{ Printf(string, ...any) }, seed *userdata.Seed, run func(ctx context.Context, name, script string) error, engineLabels []string) (*wire.UserData, func()) {
	eff := &wire.UserData{Source: "none", Config: &userdata.Config{}}
	if seed == nil {
		writeEffective(l, eff)
		return eff, func() {}
	}
	c, md, ds := userdata.Load(seed)
	eff.Source, eff.InstanceID, eff.Config, eff.Diagnostics = seed.Source, md.InstanceID, c, ds
	l.Printf("user-data: from %s, instance %s", seed.Source, md.InstanceID)
	for _, d := range ds {
		l.Printf("user-data: %s", d)
	}
	a := &userdata.Applier{Root: "/", StateDir: userdataDir, Run: run, Logf: l.Printf, EngineLabels: engineLabels,
		SetHostname: func(n string) error { return unix.Sethostname([]byte(n)) },
		LoadModules: func(names []string) {
			for _, err := range kmod.LoadAll(names) {
				l.Printf("user-data: berth.modules: %v", err)
			}
		}}
	var mu sync.Mutex
	report := func(errs []error) {
		mu.Lock()
		defer mu.Unlock()
		for _, err := range errs {
			l.Printf("user-data: %v", err)
			eff.Errors = append(eff.Errors, err.Error())
		}
		writeEffective(l, eff)
	}
	report(a.Early(c))
	return eff, func() { report(a.Late(c, md)) }
}

func writeEffective(l interface{ Printf(string, ...any) }, eff *wire.UserData) {
	b, _ := json.MarshalIndent(eff, "", "  ")
	os.MkdirAll(userdataDir, 0o700)
	if err := atomicfile.Write(effectivePath, append(b, '\n'), 0o600); err != nil {
		l.Printf("user-data: %v", err)
	}
}
