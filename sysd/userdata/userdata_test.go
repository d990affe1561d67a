package userdata

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"strings"
	"testing"
)

func parse(t *testing.T, src string) (*Config, Diagnostics) {
	t.Helper()
	c := &Config{}
	ds := Parse("user-data", []byte(src), c)
	return c, ds
}

func TestFullExample(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := &Config{}
	if ds := Parse("full.yaml", data, c); len(ds) > 0 {
		t.Fatalf("diagnostics: %v", ds)
	}
	if c.Hostname != "web-1" || c.FQDN != "web-1.example.net" || !c.ManageEtcHosts || c.SSHPwauth {
		t.Errorf("names: %+v", c)
	}
	if len(c.Users) != 2 || !c.Users[0].Default || c.Users[0].Name != "berth" {
		t.Fatalf("users: %+v", c.Users)
	}
	a := c.Users[1]
	if a.Name != "alice" || strings.Join(a.Groups, ",") != "docker,adm" || a.LockPasswd || a.Passwd == "" || len(a.Sudo) != 1 || len(a.SSHAuthorizedKeys) != 1 {
		t.Errorf("alice: %+v", a)
	}
	if len(c.WriteFiles) != 3 || string(c.WriteFiles[1].Content) != "secret\n" || c.WriteFiles[1].Permissions != 0o600 ||
		c.WriteFiles[1].Owner != "alice:alice" || !c.WriteFiles[2].Append || !c.WriteFiles[2].Defer || c.WriteFiles[0].Permissions != 0o644 {
		t.Errorf("write_files: %+v", c.WriteFiles)
	}
	if len(c.Runcmd) != 2 || c.Runcmd[0].Args[2] != "echo ran > /var/lib/ran" || c.Runcmd[1].Shell != "touch /var/lib/ran-too" || len(c.Bootcmd) != 1 {
		t.Errorf("commands: %+v %+v", c.Bootcmd, c.Runcmd)
	}
	b := c.Berth
	if len(b.Services) != 1 || !strings.Contains(b.Services[0].Content, "Exec=sleep 1000") {
		t.Errorf("services: %+v", b.Services)
	}
	i := b.Network.Interfaces[0]
	if i.Name != "eth*" || *i.DHCP || i.Addresses[0] != "10.0.2.15/24" || i.Gateway != "10.0.2.2" || i.MTU != 1500 || i.Routes[0].Via != "10.0.2.1" {
		t.Errorf("network: %+v", i)
	}
	if b.Update.Strategy != "reboot" || b.Docker["log-driver"] != "json-file" || b.Sysctl["net.ipv4.ip_forward"] != "1" || b.Modules[0] != "wireguard" {
		t.Errorf("berth: %+v", b)
	}
	if len(c.NTPServers) != 2 || c.Timezone != "Europe/Berlin" {
		t.Errorf("ntp/timezone: %+v %q", c.NTPServers, c.Timezone)
	}
}

// Every message, with its line, key and fix; what was valid is kept.
func TestDiagnostics(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
		check     func(*Config) bool
	}{
		{"unknown key with a suggestion", "#cloud-config\nhostnam: a\nruncmd: [ls]\n",
			[]string{"user-data:2: hostnam: warning: unknown key, ignored (did you mean hostname?)"},
			func(c *Config) bool { return len(c.Runcmd) == 1 }},
		{"unsupported cloud-init key", "#cloud-config\npackages: [nginx]\n",
			[]string{"user-data:2: packages: warning: not supported by Berth: Berth has no package manager; run software in containers"}, nil},
		{"wrong type is an error for that key only", "#cloud-config\nhostname: [a, b]\nfqdn: x.y\n",
			[]string{"user-data:2: hostname: want a string, got a list"},
			func(c *Config) bool { return c.FQDN == "x.y" && c.Hostname == "" }},
		{"invalid YAML: one error with its line", "#cloud-config\nhostname: a\nusers:\n  - name: b\n   bad: indent\n",
			[]string{"user-data:3: invalid YAML: did not find expected '-' indicator (nothing of this part was applied)"}, nil},
		{"bad user and a good one", "#cloud-config\nusers:\n  - gecos: nameless\n  - name: bob\n",
			[]string{"user-data:3: users[0].name: a user needs a name (add name: USER)"},
			func(c *Config) bool { return len(c.Users) == 1 && c.Users[0].Name == "bob" && c.Users[0].LockPasswd }},
		{"nested unknown key", "#cloud-config\nberth:\n  netwrk: {}\n",
			[]string{"user-data:3: berth.netwrk: warning: unknown key, ignored (did you mean berth.network?)"}, nil},
		{"bad permissions", "#cloud-config\nwrite_files:\n  - path: /a\n    permissions: rwx\n",
			[]string{"user-data:4: write_files[0].permissions: \"rwx\" is not a file mode (write it in octal, e.g. '0644')"},
			func(c *Config) bool { return len(c.WriteFiles) == 0 }},
		{"bad address", "#cloud-config\nberth:\n  network:\n    interfaces:\n      - name: eth0\n        addresses: [10.0.2.15]\n",
			[]string{"user-data:6: berth.network.interfaces[0].addresses[0]: \"10.0.2.15\" is not an address with a prefix length (write ADDRESS/PREFIX, e.g. 10.0.2.15/24)"}, nil},
		{"plain text password refused", "#cloud-config\nusers:\n  - name: bob\n    passwd: hunter2\n",
			[]string{"user-data:4: users[0].passwd: not a password hash (give a crypt(3) hash, e.g. from `mkpasswd -m sha-512`)"}, nil},
		{"unknown format", "hello\n", []string{"user-data:1: not user-data Berth knows (start it with #cloud-config or #!, or send gzip or MIME multi-part)"}, nil},
		{"bad boolean", "#cloud-config\nssh_pwauth: maybe\n", []string{"user-data:2: ssh_pwauth: want a boolean, got a string \"maybe\" (write true or false)"}, nil},
		{"bad update keys", "#cloud-config\nberth:\n  update:\n    interval: often\n    tries: 0\n    health_checks: [\"localhost:80\", \"tcp://127.0.0.1:80\"]\n    reboot_window: \"Someday 02:00-03:00\"\n",
			[]string{"user-data:4: berth.update.interval: \"often\" is not a duration (write a duration such as 90s, 10m or 6h)",
				"user-data:5: berth.update.tries: tries 0 is out of range (give 1 to 9)",
				"user-data:6: berth.update.health_checks[0]: check \"localhost:80\" is not a URL (write http://HOST:PORT/PATH or tcp://HOST:PORT)",
				"user-data:7: berth.update.reboot_window: reboot window \"Someday 02:00-03:00\": \"someday\" is not a day (Mon … Sun) (write [DAYS ]HH:MM-HH:MM (UTC), e.g. Sun 02:00-04:00)"}, nil},
		{"group names that would split an account line", "#cloud-config\ngroups: [\"ops\\nadm\", ops, {\"a:b\": [bob]}]\nusers:\n  - name: bob\n    groups: [wheel, \"x\\ny\"]\n  - ../etc\n",
			[]string{"user-data:2: groups[0]: \"ops\\nadm\" is not a valid user or group name",
				"user-data:2: groups[2]: \"a:b\" is not a valid user or group name",
				"user-data:5: users[0].groups[1]: \"x\\ny\" is not a valid user or group name",
				"user-data:6: users[1]: \"../etc\" is not a valid user name"},
			func(c *Config) bool {
				return len(c.Groups) == 1 && c.Groups[0].Name == "ops" && len(c.Users) == 1 && len(c.Users[0].Groups) == 1
			}},
		{"cloud-config too large", "#cloud-config\nruncmd:\n" + strings.Repeat("- [a, b]\n", 300<<10/9),
			[]string{"user-data: #cloud-config of 300 KiB is larger than 256 KiB (nothing of this part was applied)"}, nil},
		{"daemon.json keys that are not strings", "#cloud-config\nberth:\n  docker:\n    log-opts:\n      max-size: 10m\n      1: x\n",
			[]string{"user-data:6: berth.docker.log-opts.1: daemon.json keys are strings, not int (nothing of berth.docker was applied) (quote it)"},
			func(c *Config) bool { return c.Berth.Docker == nil }},
		{"bad strategy", "#cloud-config\nberth:\n  update:\n    strategy: sometimes\n",
			[]string{"user-data:4: berth.update.strategy: unknown strategy \"sometimes\" (off, check, download or reboot)"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ds := parse(t, tc.src)
			if len(ds) != len(tc.want) {
				t.Fatalf("got %d diagnostics, want %d:\n%v", len(ds), len(tc.want), ds)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(ds[i].String(), w) {
					t.Errorf("got  %s\nwant %s", ds[i], w)
				}
			}
			if tc.check != nil && !tc.check(c) {
				t.Errorf("what was valid was not kept: %+v", c)
			}
		})
	}
}

func TestScriptGzipAndMIME(t *testing.T) {
	c, ds := parse(t, "#!/bin/sh\necho hi\n")
	if len(ds) != 0 || len(c.Scripts) != 1 {
		t.Fatalf("script: %v %+v", ds, c)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("#cloud-config\nhostname: zipped\n"))
	zw.Close()
	c = &Config{}
	if ds := Parse("gz", gz.Bytes(), c); len(ds) != 0 || c.Hostname != "zipped" {
		t.Fatalf("gzip: %v %+v", ds, c)
	}
	// As `cloud-init devel make-mime -a config.yaml:cloud-config -a script.sh:x-shellscript` writes it.
	mime := "Content-Type: multipart/mixed; boundary=\"===============4291038100093059099==\"\n" +
		"MIME-Version: 1.0\n\n" +
		"--===============4291038100093059099==\n" +
		"Content-Type: text/cloud-config; charset=\"us-ascii\"\nMIME-Version: 1.0\n" +
		"Content-Transfer-Encoding: 7bit\nContent-Disposition: attachment; filename=\"config.yaml\"\n\n" +
		"#cloud-config\nhostname: from-mime\nbogus: 1\n\n" +
		"--===============4291038100093059099==\n" +
		"Content-Type: text/x-shellscript; charset=\"us-ascii\"\nMIME-Version: 1.0\n" +
		"Content-Transfer-Encoding: 7bit\nContent-Disposition: attachment; filename=\"script.sh\"\n\n" +
		"#!/bin/sh\necho from mime\n\n" +
		"--===============4291038100093059099==--\n"
	c = &Config{}
	ds = Parse("user-data", []byte(mime), c)
	if c.Hostname != "from-mime" || len(c.Scripts) != 1 || c.Scripts[0].Name != "user-data[script.sh]" {
		t.Fatalf("mime: %v %+v", ds, c)
	}
	if len(c.Parts) != 2 || c.Parts[0].Source != "user-data[config.yaml]" || strings.Join(c.Parts[0].Keys, ",") != "hostname,bogus" || c.Parts[1].Type != "x-shellscript" {
		t.Errorf("parts: %+v", c.Parts)
	}
	if len(ds) != 1 || ds[0].String() != "user-data[config.yaml]:3: bogus: warning: unknown key, ignored" {
		t.Fatalf("mime diagnostics: %v", ds)
	}
}

func FuzzParse(f *testing.F) {
	full, _ := os.ReadFile("testdata/full.yaml")
	f.Add(full)
	f.Add([]byte("#cloud-config\nusers: [default, {name: a, groups: [x]}]\n"))
	f.Add([]byte("#!/bin/sh\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/cloud-config\n\nhostname: a\n--x--\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &Config{}
		for _, d := range Parse("fuzz", data, c) {
			if d.File == "" || d.Msg == "" {
				t.Fatalf("diagnostic without source or message: %+v", d)
			}
		}
	})
}

// Real-world shapes: every key is read or named in a warning; none is an
// error, and the values land where they should.
func TestExamples(t *testing.T) {
	for file, check := range map[string]func(*Config, Diagnostics) string{
		"users-and-groups.yaml": func(c *Config, ds Diagnostics) string {
			if len(c.Users) != 4 || c.Users[2].Sudo[0] != "ALL=(ALL) NOPASSWD:ALL" || strings.Join(c.Users[2].Groups, ",") != "users,admin" || c.Users[1].LockPasswd {
				return fmt.Sprintf("users: %+v", c.Users)
			}
			if len(c.Groups) != 2 || c.Groups[0].Name != "admingroup" || strings.Join(c.Groups[0].Members, ",") != "root,sys" || c.Groups[1].Name != "cloud-users" {
				return fmt.Sprintf("groups: %+v", c.Groups)
			}
			want := []string{"users[1].primary_group: warning: not supported", "users[3].inactive: warning: not supported", "users[3].system: warning: not supported"}
			if len(ds) != len(want) {
				return fmt.Sprint(ds)
			}
			for i, w := range want {
				if !strings.Contains(ds[i].String(), w) {
					return fmt.Sprintf("%s, want %s", ds[i], w)
				}
			}
			return ""
		},
		"write-files.yaml": func(c *Config, ds Diagnostics) string {
			if len(ds) != 0 || len(c.WriteFiles) != 5 || string(c.WriteFiles[0].Content) != "CATCHED YOU\n" ||
				string(c.WriteFiles[2].Content) != "/bin/arch\n" || c.WriteFiles[2].Permissions != 0o555 || !c.WriteFiles[3].Append || !c.WriteFiles[4].Defer {
				return fmt.Sprintf("%v %+v", ds, c.WriteFiles)
			}
			return ""
		},
	} {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile("testdata/" + file)
			if err != nil {
				t.Fatal(err)
			}
			c := &Config{}
			ds := Parse(file, data, c)
			if len(ds.Errors()) > 0 {
				t.Fatalf("errors: %v", ds.Errors())
			}
			if msg := check(c, ds); msg != "" {
				t.Error(msg)
			}
		})
	}
}

// hosts and group in berth.docker would stop dockerd: an error for those
// keys, the rest of daemon.json kept.
func TestDockerKeysBerthSets(t *testing.T) {
	c, ds := parse(t, "#cloud-config\nberth:\n  docker:\n    log-driver: json-file\n    hosts: [tcp://0.0.0.0:2375]\n    group: wheel\n")
	if len(ds) != 2 || ds[0].Line != 5 || ds[0].Key != "berth.docker.hosts" || ds[1].Key != "berth.docker.group" || ds[0].Warning {
		t.Fatalf("diagnostics: %v", ds)
	}
	if len(c.Berth.Docker) != 1 || c.Berth.Docker["log-driver"] != "json-file" {
		t.Errorf("daemon.json settings: %v", c.Berth.Docker)
	}
}

func TestStorageGrow(t *testing.T) {
	if c, ds := parse(t, "#cloud-config\nhostname: x\n"); len(ds) != 0 || !c.Berth.GrowState() {
		t.Fatalf("default: grow %v, %v", c.Berth.GrowState(), ds)
	}
	if c, ds := parse(t, "#cloud-config\nberth:\n  storage:\n    grow: false\n"); len(ds) != 0 || c.Berth.GrowState() {
		t.Fatalf("grow: false: grow %v, %v", c.Berth.GrowState(), ds)
	}
	c, ds := parse(t, "#cloud-config\nberth:\n  storage:\n    grow: sometimes\n")
	if len(ds) != 1 || ds[0].Line != 4 || ds[0].Key != "berth.storage.grow" || !c.Berth.GrowState() {
		t.Fatalf("grow: sometimes: grow %v, %v", c.Berth.GrowState(), ds)
	}
}

func TestInstall(t *testing.T) {
	c, ds := parse(t, "#cloud-config\nberth:\n  install:\n    disk: largest\n    reboot: true\n")
	if len(ds) != 0 || c.Berth.Install == nil || *c.Berth.Install != (Install{Disk: "largest", Reboot: true}) {
		t.Fatalf("largest: %+v, %v", c.Berth.Install, ds)
	}
	for src, line := range map[string]int{
		"#cloud-config\nberth:\n  install:\n    reboot: true\n":                     4,
		"#cloud-config\nberth:\n  install:\n    disk: sda\n":                        4,
		"#cloud-config\nberth:\n  install:\n    disk: /dev/sda\n    force: maybe\n": 5,
	} {
		c, ds := parse(t, src)
		if len(ds) != 1 || ds[0].Line != line || !strings.HasPrefix(ds[0].Key, "berth.install") {
			t.Errorf("%q: %v", src, ds)
		}
		if line != 5 && c.Berth.Install != nil {
			t.Errorf("%q: install %+v from a bad entry", src, c.Berth.Install)
		}
	}
}
