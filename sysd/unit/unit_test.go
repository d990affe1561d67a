package unit

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

const full = `# the user engine
[Unit]
Description=Docker engine
Requires=containerd.service
Wants=network-online.service
After=network-online.service containerd.service
Before=console.service
StartLimitBurst=3
StartLimitIntervalSec=1min

[Service]
Type=notify
Restart=always
RestartSec=2s
TimeoutStartSec=2min 30s
TimeoutStopSec=20
WatchdogSec=500ms
Environment=A=1 "B=two words"
Environment=C=3
EnvironmentFile=/etc/berth/docker.env
MemoryMax=512M
CPUWeight=200
TasksMax=4096
IOWeight=50
MountFlags=shared
Delegate=yes

[Container]
Image=docker
Exec=/usr/bin/dockerd --config-file "/etc/docker/daemon.json"
Volume=/var/lib/docker:/var/lib/docker
Volume=/etc/docker:/etc/docker:ro
Network=host
PID=private
UTS=host
User=root
Group=root
WorkingDir=/
ReadOnly=yes
Tmpfs=/run /tmp
AddCapability=SYS_ADMIN CAP_NET_ADMIN
DropCapability=CAP_SYS_BOOT
Privileged=true
Notify=yes
HealthCmd=/usr/bin/docker info
HealthInterval=5s
HealthTimeout=2s
HealthRetries=5
HealthStartPeriod=10s
HealthStartInterval=1s
`

func TestParseEveryKey(t *testing.T) {
	u, ds := Parse("/usr/lib/berth/services/docker.service", []byte(full))
	if len(ds) != 0 {
		t.Fatalf("diagnostics: %v", ds)
	}
	want := &Unit{
		Name:        "docker.service",
		Description: "Docker engine",
		Requires:    []string{"containerd.service"},
		Wants:       []string{"network-online.service"},
		After:       []string{"network-online.service", "containerd.service"},
		Before:      []string{"console.service"},
		Service: Service{
			Type: "notify", Restart: "always", RestartSec: 2 * time.Second,
			TimeoutStartSec: 150 * time.Second, TimeoutStopSec: 20 * time.Second, WatchdogSec: 500 * time.Millisecond,
			StartLimitBurst: 3, StartLimitIntervalSec: time.Minute,
			Environment:     []string{"A=1", "B=two words", "C=3"},
			EnvironmentFile: []string{"/etc/berth/docker.env"},
			MemoryMax:       512 << 20, CPUWeight: 200, TasksMax: 4096, IOWeight: 50,
			MountFlags: "shared", Delegate: true,
		},
		Container: Container{
			Image: "docker", Exec: []string{"/usr/bin/dockerd", "--config-file", "/etc/docker/daemon.json"},
			Volumes: []Volume{{"/var/lib/docker", "/var/lib/docker", false}, {"/etc/docker", "/etc/docker", true}},
			Network: "host", PID: "private", UTS: "host", User: "root", Group: "root", WorkingDir: "/",
			ReadOnly: true, Privileged: true, Notify: true, Tmpfs: []string{"/run", "/tmp"},
			AddCapability: []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}, DropCapability: []string{"CAP_SYS_BOOT"},
			HealthCmd:      []string{"/usr/bin/docker", "info"},
			HealthInterval: 5 * time.Second, HealthTimeout: 2 * time.Second, HealthRetries: 5, HealthStartPeriod: 10 * time.Second, HealthStartInterval: time.Second,
		},
	}
	if !reflect.DeepEqual(u, want) {
		t.Fatalf("got  %+v\nwant %+v", u, want)
	}
}

func TestDefaults(t *testing.T) {
	u, ds := Parse("x.service", []byte("[Container]\nImage=base\nExec=/bin/true\n"))
	if len(ds) != 0 {
		t.Fatal(ds)
	}
	if u.Service.Type != "simple" || u.Service.Restart != "no" || u.Service.TimeoutStopSec != 10*time.Second ||
		u.Container.Network != "private" || u.Container.HealthRetries != 3 {
		t.Fatalf("defaults: %+v", u)
	}
}

func TestDiagnostics(t *testing.T) {
	for _, tc := range []struct {
		name, file, text string
		want             []string // substrings, one per diagnostic, in order
	}{
		{"typo key", "a.service", "[Service]\nRestrat=always\n[Container]\nImage=i\nExec=x\n",
			[]string{"a.service:2: [Service] Restrat: unknown key (did you mean Restart?)"}},
		{"bad value keeps the rest", "a.service", "[Service]\nType=simple\nRestart=sometimes\nMemoryMax=lots\n[Container]\nImage=i\nExec=x\n",
			[]string{`a.service:3: [Service] Restart: "sometimes" is not one of no, on-failure, always`,
				`a.service:4: [Service] MemoryMax: "lots" is not a size`}},
		{"unsupported", "a.service", "[Service]\nExecStart=/bin/x\n[Container]\nImage=i\nExec=x\n",
			[]string{"a.service:2: [Service] ExecStart: warning: not supported by Berth: services run in containers"}},
		{"section typo", "a.service", "[Contaner]\nImage=i\n",
			[]string{"a.service:1: [Contaner] unknown section (did you mean [Container]?)"}},
		{"no exec", "a.service", "[Container]\nImage=i\n",
			[]string{"a.service:2: [Container] Exec: no command to run (add Exec=COMMAND)"}},
		{"exec without image", "a.service", "[Container]\n\nExec=/bin/x\n",
			[]string{"a.service:3: [Container] Image: Exec= needs an Image= to run in"}},
		{"bad name", "a.conf", "[Container]\nImage=i\nExec=x\n",
			[]string{"a.conf:1: a service file's name must end in .service (rename it to a.service)"}},
		{"syntax", "a.service", "[Container]\nImage=i\nthis is not a key\n",
			[]string{"a.service:3:"}},
		{"caps and volumes", "a.service", "[Container]\nImage=i\nExec=x\nAddCapability=CAP_FLY\nVolume=data\nRequires=x\n",
			[]string{`a.service:4: [Container] AddCapability: "CAP_FLY" is not a Linux capability`,
				`a.service:5: [Container] Volume: "data" is not SOURCE:/DESTINATION[:ro]`,
				`a.service:6: [Container] Requires: unknown key`}},
		{"health checks back to back", "a.service", "[Container]\nImage=i\nExec=x\nHealthCmd=true\nHealthInterval=0\nHealthTimeout=0.05\n",
			[]string{`a.service:5: [Container] HealthInterval: "0" is shorter than 100ms`,
				`a.service:6: [Container] HealthTimeout: "0.05" is shorter than 100ms`}},
		{"no container", "a.service", "[Unit]\nDescription=x\n[Service]\nRestart=always\n",
			[]string{`a.service:1: no [Container] section`}},
		{"unit names", "a.service", "[Unit]\nAfter=network\n[Container]\nImage=i\nExec=x\n",
			[]string{`a.service:2: [Unit] After: "network" is not a unit name (write network.service)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ds := Parse(tc.file, []byte(tc.text))
			if len(ds) != len(tc.want) {
				t.Fatalf("got %d diagnostics, want %d: %v", len(ds), len(tc.want), ds)
			}
			for i, w := range tc.want {
				if !strings.Contains(ds[i].String(), w) {
					t.Errorf("diagnostic %d = %q, want it to contain %q", i, ds[i], w)
				}
			}
		})
	}
}

func TestEmptyAssignmentResetsList(t *testing.T) {
	u, _ := Parse("a.service", []byte("[Service]\nEnvironment=A=1\nEnvironment=\nEnvironment=B=2\n[Container]\nImage=i\nExec=x\n"))
	if !reflect.DeepEqual(u.Service.Environment, []string{"B=2"}) {
		t.Fatalf("got %v", u.Service.Environment)
	}
}

func TestParseTimespan(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"5": 5 * time.Second, "1.5": 1500 * time.Millisecond, "100ms": 100 * time.Millisecond,
		"1min 30s": 90 * time.Second, "2h": 2 * time.Hour, "1d": 24 * time.Hour, "250us": 250 * time.Microsecond,
	} {
		if got, err := ParseTimespan(in); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	// NaN, Inf, huge and negative spans were taken (issue 15.10).
	for _, bad := range []string{"", "s", "5 parsecs", "1..2s", "NaN", "Inf", "+Inf", "1e300", "-5", "-5s", "1e3", "0x10", "99999999999d", "3000000h 3000000h", "."} {
		if _, err := ParseTimespan(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "4K": 4096, "512M": 512 << 20, "2G": 2 << 30, "infinity": -1} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "M", "-1", "1.5G", "99999999999T"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(full))
	f.Add([]byte("[Service]\nRestart=x\\\n  y\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, ds := Parse("f.service", data)
		if u == nil {
			t.Fatal("nil unit")
		}
		for _, d := range ds {
			if d.Line < 0 || d.File != "f.service" || d.Msg == "" {
				t.Fatalf("bad diagnostic %+v", d)
			}
		}
	})
}

func TestFormatBytesRoundTrips(t *testing.T) {
	for _, n := range []int64{16 << 20, 1 << 30, 1536, 1000, 3 << 40} {
		s := FormatBytes(n)
		if back, err := ParseBytes(s); err != nil || back != n {
			t.Errorf("%d → %q → %d, %v", n, s, back, err)
		}
	}
	if FormatBytes(16<<20) != "16M" || FormatBytes(-1) != "infinity" {
		t.Errorf("FormatBytes(16M) = %q", FormatBytes(16<<20))
	}
}

func FuzzValues(f *testing.F) {
	f.Add("1min 30s")
	f.Add("512M")
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseTimespan(s); err == nil && d < 0 {
			t.Fatalf("%q: negative span %v", s, d)
		}
		ParseBytes(s)
		ParseBool(s)
	})
}
