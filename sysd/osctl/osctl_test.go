package osctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"berth.dev/berth/sysd/api"
	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/logs"
	"berth.dev/berth/sysd/service"
)

// fake is a supervisor with two services, recording the actions asked.
type fake struct {
	actions []string
	log     *logs.Log
}

func (f *fake) List() []wire.Service {
	return []wire.Service{
		{Name: "a.service", State: "up", Up: true, Enabled: true, Pid: 42, Since: time.Now()},
		{Name: "crash.service", State: "failed", Enabled: true, Reason: "3 starts within 10s: giving up"},
	}
}
func (f *fake) Get(name string) (wire.Service, error) {
	for _, s := range f.List() {
		if s.Name == name || s.Name == name+".service" {
			s.Events = []wire.Event{{State: "starting"}, {State: "up"}}
			return s, nil
		}
	}
	return wire.Service{}, fmt.Errorf("%w: %s", service.ErrNotFound, name)
}
func (f *fake) act(a string) func(string) error {
	return func(n string) error {
		if _, err := f.Get(n); err != nil {
			return err
		}
		f.actions = append(f.actions, a+" "+n)
		return nil
	}
}
func (f *fake) Start(n string) error   { return f.act("start")(n) }
func (f *fake) Stop(n string) error    { return f.act("stop")(n) }
func (f *fake) Restart(n string) error { return f.act("restart")(n) }
func (f *fake) Enable(n string) error  { return f.act("enable")(n) }
func (f *fake) Disable(n string) error { return f.act("disable")(n) }
func (f *fake) Reload() error          { f.actions = append(f.actions, "reload"); return nil }
func (f *fake) Log(n string) (*logs.Log, error) {
	if n == "a" || n == "sysd" {
		return f.log, nil
	}
	return nil, fmt.Errorf("%w: %s", service.ErrNotFound, n)
}
func (f *fake) Subscribe() (<-chan wire.Event, func()) {
	ch := make(chan wire.Event, 2)
	ch <- wire.Event{Service: "a.service", State: "starting"}
	ch <- wire.Event{Service: "a.service", State: "up"}
	return ch, func() {}
}

type sys struct {
	rebooted atomic.Bool
	unlocked string
}

func (s *sys) Fleet(context.Context) (wire.Fleet, error) {
	since := time.Date(2026, 12, 3, 4, 0, 0, 0, time.UTC)
	return wire.Fleet{
		Member: wire.FleetMember{Role: "manager", State: "active", Manager: true},
		Nodes: []wire.FleetNode{
			{ID: "n1", Hostname: "berth-1", MachineID: "aaa", Version: "0.2.0", Role: "manager", Leader: true, State: "ready", Availability: "active"},
			{ID: "n2", Hostname: "berth-2", MachineID: "bbb", Version: "0.1.0", Role: "manager", State: "down", Availability: "drain"},
		},
		Holders: []wire.FleetHolder{{MachineID: "bbb", Group: "default", Since: since, Hostname: "berth-2", Overdue: true}},
		Halted:  "berth-2 (bbb) took a reboot slot at 2026-12-03T04:00:00Z and has not reported steady state within 30m0s",
	}, nil
}

func (s *sys) FleetUnlock(_ context.Context, m string) error {
	if m != "berth-2" {
		return fmt.Errorf("%s holds no reboot slot", m)
	}
	s.unlocked = m
	return nil
}

func (s *sys) Status() wire.System    { return wire.System{Version: "1.2.3", Slot: "A"} }
func (s *sys) Reboot() error          { s.rebooted.Store(true); return nil }
func (s *sys) Poweroff() error        { return nil }
func (s *sys) Config() *wire.UserData { return &wire.UserData{Source: "fw_cfg"} }
func (s *sys) Network() wire.Net {
	return wire.Net{Online: true, Links: []wire.Link{{Name: "eth0", Up: true, Mode: "dhcp", Addresses: []string{"10.0.2.15/24"},
		Lease: &wire.Lease{Address: "10.0.2.15/24", Server: "10.0.2.2", Router: "10.0.2.2"}}}, Routes: []string{"default via 10.0.2.2 dev eth0"}, DNS: []string{"10.0.2.3"}}
}
func (s *sys) Hardware() (wire.Hardware, error) {
	return wire.Hardware{Devices: []wire.Device{
		{Path: "/devices/pci0000:00/0000:00:02.0", Bus: "pci", Modalias: "pci:v00008086d000010D3sv00001AF4sd00001100bc02sc00i00", Driver: "e1000e", Names: []string{"eth0"}, Modules: []string{"e1000e"}},
		{Path: "/devices/pci0000:00/0000:00:1f.3", Bus: "pci", Modalias: "pci:v00008086d00002930sv00001AF4sd00001100bc0Csc05i00"},
		{Path: "/devices/pci0000:00/0000:00:05.0", Bus: "pci", Modalias: "pci:v000015ADd000007C0sv000015ADsd000007C0bc01sc00i00", Modules: []string{"vmw_pvscsi"}},
		{Path: "/devices/LNXSYSTM:00/LNXSYBUS:00", Bus: "acpi", Modalias: "acpi:LNXSYBUS:"},
	}, Firmware: []string{"e100 (0000:00:06.0) asked for firmware e100/d101m_ucode.bin, which this image does not have"}}, nil
}

// serveAPI serves sysd's API with fakes behind it on a socket, until the
// test ends, and returns the socket.
func serveAPI(t *testing.T, f *fake, s *sys, up api.Updates, in ...api.Installs) string {
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := api.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	var inst api.Installs
	if len(in) > 0 {
		inst = in[0]
	}
	srv := &http.Server{Handler: api.Handler(f, s, up, inst)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func serve(t *testing.T) (*fake, *sys, func(args ...string) (int, string, string)) {
	f := &fake{log: logs.New("", 10, 0)}
	f.log.Printf("hello")
	f.log.Printf("world")
	s := &sys{}
	sock := serveAPI(t, f, s, nil)
	return f, s, runner(sock)
}

// runner runs os-ctl in-process against the API on sock and returns its
// exit status, stdout and stderr.
func runner(sock string) func(args ...string) (int, string, string) {
	return func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(Env{Args: args, Stdout: &out, Stderr: &errb, Socket: sock})
		return code, out.String(), errb.String()
	}
}

func TestServiceListTableAndJSON(t *testing.T) {
	_, _, run := serve(t)
	code, out, _ := run("service", "ls")
	if code != 0 || !strings.HasPrefix(out, "SERVICE") || !strings.Contains(out, "crash   ") || !strings.Contains(out, "3 starts within 10s") {
		t.Fatalf("code %d:\n%s", code, out)
	}
	code, out, _ = run("service", "ls", "--json")
	var list []wire.Service
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 || list[0].Pid != 42 {
		t.Fatalf("code %d:\n%s", code, out)
	}
}

func TestActionsAndErrors(t *testing.T) {
	f, s, run := serve(t)
	if code, _, e := run("service", "enable", "a", "--now"); code != 0 {
		t.Fatalf("enable: %d %s", code, e)
	}
	run("reload")
	run("reboot")
	if got := strings.Join(f.actions, ","); got != "enable a,start a,reload" || !s.rebooted.Load() {
		t.Fatalf("actions %q rebooted %v", got, s.rebooted.Load())
	}
	code, _, e := run("service", "start", "nope")
	if code != 1 || e != "os-ctl: service start nope: no such service: nope\n" {
		t.Fatalf("code %d stderr %q", code, e)
	}
	if code, _, _ := run("frobnicate"); code != 1 {
		t.Fatalf("unknown command: code %d", code)
	}
	code, _, e = Main(Env{Args: []string{"status"}, Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Socket: "/nonexistent/api.sock"}), "", ""
	if code != 1 {
		t.Fatalf("no sysd: code %d", code)
	}
}

func TestLogsAndStatus(t *testing.T) {
	_, _, run := serve(t)
	code, out, _ := run("logs", "a", "-n", "1")
	if code != 0 || !strings.HasSuffix(out, " world\n") || strings.Contains(out, "hello") {
		t.Fatalf("code %d:\n%s", code, out)
	}
	code, out, _ = run("status")
	if code != 0 || !strings.Contains(out, "1.2.3") || !strings.Contains(out, "1 of 2 up, failed: crash.service") {
		t.Fatalf("code %d:\n%s", code, out)
	}
	code, out, _ = run("service", "status", "a")
	if code != 0 || !strings.Contains(out, "pid:") || !strings.Contains(out, "up") {
		t.Fatalf("code %d:\n%s", code, out)
	}
}

func TestEventStreamAndJSONLogs(t *testing.T) {
	_, _, run := serve(t)
	code, out, _ := run("logs", "a", "--json")
	var line logs.Line
	if code != 0 || json.Unmarshal([]byte(strings.Split(out, "\n")[1]), &line) != nil || line.Text != "world" {
		t.Fatalf("logs --json: code %d:\n%s", code, out)
	}
}

func TestEventStream(t *testing.T) {
	sock := serveAPI(t, &fake{log: logs.New("", 1, 0)}, &sys{}, nil)
	resp, err := wire.Client(sock).Get("http://sysd/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var got []string
	for i := 0; i < 2; i++ {
		var e wire.Event
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Service+" "+string(e.State))
	}
	if strings.Join(got, ",") != "a.service starting,a.service up" {
		t.Fatalf("events: %v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	_, _, run := serve(t)
	f := filepath.Join(t.TempDir(), "user-data")
	os.WriteFile(f, []byte("#cloud-config\nhostnam: x\nssh_pwauth: maybe\n"), 0o644)
	code, out, e := run("config", "validate", f)
	if code != 1 || !strings.Contains(out, f+":2: hostnam: warning: unknown key, ignored (did you mean hostname?)") ||
		!strings.Contains(out, f+":3: ssh_pwauth: want a boolean") || !strings.Contains(e, "1 errors") {
		t.Fatalf("code %d\n%s\n%s", code, out, e)
	}
	os.WriteFile(f, []byte("#cloud-config\nhostname: x\n"), 0o644)
	if code, out, _ := run("config", "validate", f); code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("code %d\n%s", code, out)
	}
	if code, out, _ := run("config", "show"); code != 0 || !strings.Contains(out, "fw_cfg") {
		t.Fatalf("show: code %d\n%s", code, out)
	}
}

func TestHardware(t *testing.T) {
	_, _, run := serve(t)
	code, out, _ := run("hw")
	for _, want := range []string{
		"pci  0000:00:02.0  e1000e", "eth0",
		"0000:00:05.0  - (vmw_pvscsi did not bind)",
		"unclaimed: 1 with no driver in this image, 1 whose driver did not bind (0000:00:05.0)",
		"firmware: e100 (0000:00:06.0) asked for firmware e100/d101m_ucode.bin",
		"(1 ACPI nodes without a driver not shown: --all)",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("os-ctl hw: code %d, no %q in:\n%s", code, want, out)
		}
	}
	if strings.Contains(out, "LNXSYBUS") {
		t.Errorf("os-ctl hw shows an ACPI node without a driver:\n%s", out)
	}
	if code, out, _ = run("hw", "--all"); code != 0 || !strings.Contains(out, "LNXSYBUS") {
		t.Errorf("os-ctl hw --all: code %d:\n%s", code, out)
	}
	code, out, _ = run("hw", "--json")
	var hw wire.Hardware
	if code != 0 || json.Unmarshal([]byte(out), &hw) != nil || len(hw.Devices) != 4 || hw.Devices[0].Driver != "e1000e" {
		t.Fatalf("code %d:\n%s", code, out)
	}
}

func TestNet(t *testing.T) {
	_, _, run := serve(t)
	code, out, _ := run("net")
	if code != 0 || !strings.Contains(out, "eth0") || !strings.Contains(out, "10.0.2.15/24") || !strings.Contains(out, "default via 10.0.2.2 dev eth0") || !strings.Contains(out, "nameserver 10.0.2.3") {
		t.Fatalf("code %d:\n%s", code, out)
	}
	code, out, _ = run("net", "--json")
	var st wire.Net
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || !st.Online {
		t.Fatalf("code %d:\n%s", code, out)
	}
}

func TestFleet(t *testing.T) {
	_, s, run := serve(t)
	code, out, _ := run("fleet", "status")
	for _, want := range []string{
		"this machine: manager, active (manager)",
		"berth-1   manager (leader)  ready",
		"since 2026-12-03T04:00:00Z (overdue)",
		"rollout halted: berth-2 (bbb) took a reboot slot",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("code %d, want %q in:\n%s", code, want, out)
		}
	}
	if code, out, _ := run("fleet", "status", "--json"); code != 0 || !strings.Contains(out, `"halted":`) {
		t.Fatalf("json: %d %s", code, out)
	}
	if code, out, _ := run("fleet", "unlock", "berth-2"); code != 0 || s.unlocked != "berth-2" || !strings.Contains(out, "berth-2's reboot slot is free") {
		t.Fatalf("unlock: %d %s", code, out)
	}
	if code, _, errs := run("fleet", "unlock", "berth-9"); code != 1 || !strings.Contains(errs, "fleet unlock berth-9: berth-9 holds no reboot slot") {
		t.Fatalf("unlock of a non-holder: %d %s", code, errs)
	}
}
