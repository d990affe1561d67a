package userdata

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestApply(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.MkdirAll(filepath.Join(root, "proc/sys/net/ipv4"), 0o755)
	os.MkdirAll(filepath.Join(root, "usr/share/zoneinfo/Europe"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/share/zoneinfo/Europe/Berlin"), []byte("TZif"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\n"), 0o644)
	data, _ := os.ReadFile("testdata/full.yaml")
	c := &Config{}
	if ds := Parse("full.yaml", data, c); len(ds) > 0 {
		t.Fatal(ds)
	}
	c.Groups = []Group{{Name: "ops", Members: []string{"alice"}}}
	var ran []string
	var host string
	a := &Applier{Root: root, StateDir: filepath.Join(root, "state"),
		Run:         func(_ context.Context, name, script string) error { ran = append(ran, name+": "+script); return nil },
		SetHostname: func(n string) error { host = n; return nil },
		Logf:        t.Logf}
	if errs := a.Early(c); len(errs) > 0 {
		t.Fatal(errs)
	}
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Errorf("%v", err)
		}
		return string(b)
	}
	if host != "web-1" || read("etc/hostname") != "web-1\n" || !strings.Contains(read("etc/hosts"), "127.0.1.1\tweb-1.example.net web-1") {
		t.Errorf("hostname %q", host)
	}
	passwd := read("etc/passwd")
	if !strings.Contains(passwd, "berth:x:1000:1000:Berth:/home/berth:/bin/bash") || !strings.Contains(passwd, "alice:x:1002:1002:Alice Example:/home/alice:/bin/bash") {
		t.Errorf("passwd:\n%s", passwd)
	}
	if g := read("etc/group"); !strings.Contains(g, "docker:x:1001:alice,berth") || !strings.Contains(g, "adm:x:1003:alice") {
		t.Errorf("group:\n%s", g)
	}
	if g := read("etc/group"); !regexp.MustCompile(`(?m)^ops:x:\d+:alice$`).MatchString(g) {
		t.Errorf("groups: no ops with alice:\n%s", g)
	}
	if s := read("etc/shadow"); !strings.Contains(s, "berth:!:") || !strings.Contains(s, "alice:$6$rounds=4096$salt$hash:") {
		t.Errorf("shadow:\n%s", s)
	}
	// alice has a password, berth a locked one: the serial login is for alice.
	if s := read("run/berth/password-users"); s != "alice\n" {
		t.Errorf("password users: %q", s)
	}
	if k := read("home/berth/.ssh/authorized_keys"); !strings.Contains(k, "admin@laptop") {
		t.Errorf("berth's keys: %q", k)
	}
	if s := read("etc/sudoers.d/90-berth-users"); !strings.Contains(s, "berth ALL=(ALL) NOPASSWD:ALL") {
		t.Errorf("sudoers:\n%s", s)
	}
	st, _ := os.Stat(filepath.Join(root, "etc/app/secret"))
	if read("etc/app/secret") != "secret\n" || st.Mode().Perm() != 0o600 || st.Sys().(interface{}) == nil {
		t.Errorf("secret: %v", st.Mode())
	}
	if l, _ := os.Readlink(filepath.Join(root, "etc/localtime")); l != "/usr/share/zoneinfo/Europe/Berlin" || read("etc/timezone") != "Europe/Berlin\n" {
		t.Errorf("timezone: %q", l)
	}
	if read("proc/sys/net/ipv4/ip_forward") != "1" {
		t.Errorf("sysctl")
	}
	if read("etc/app/notes") != "second line" || read("etc/motd") != "Welcome to web-1.\n" {
		t.Errorf("files")
	}
	if !strings.Contains(read("etc/berth/services/hello.service"), "Exec=sleep 1000") || !strings.Contains(read("etc/docker/daemon.json"), `"log-driver": "json-file"`) {
		t.Errorf("service or daemon.json")
	}
	if len(ran) != 1 || ran[0] != "bootcmd[0]: echo booting > /run/bootcmd" {
		t.Errorf("bootcmd: %q", ran)
	}
	// runcmd once per instance.
	ran = nil
	a.Late(c, MetaData{InstanceID: "i-1"})
	a.Late(c, MetaData{InstanceID: "i-1"})
	if len(ran) != 2 || ran[0] != `runcmd[0]: 'sh' '-c' 'echo ran > /var/lib/ran'` {
		t.Errorf("runcmd on one instance: %q", ran)
	}
	a.Late(c, MetaData{InstanceID: "i-2"})
	if len(ran) != 4 {
		t.Errorf("runcmd on a new instance: %q", ran)
	}
}

// Account files with short or broken lines (hand-edited, or written by an
// older release from bad user-data) cost that entry, never sysd: applying
// reports the file and entry and keeps every line it did not change.
func TestApplyMalformedAccountFiles(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nbob:x:1001\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nops\nadm:x:4:\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/shadow"), []byte("root:*:::::::\nalice\n"), 0o600)
	c := &Config{
		Users: []User{{Name: "bob"}, {Name: "alice", Groups: []string{"adm"}}, {Name: "carol", Groups: []string{"ops"}},
			{Name: "dave", Gecos: "Dave\nevil:x:0:0::/root:/bin/sh"}},
		Groups: []Group{{Name: "ops", Members: []string{"alice"}}},
	}
	a := &Applier{Root: root, StateDir: filepath.Join(root, "state"),
		Run: func(_ context.Context, name, script string) error { return nil }, Logf: t.Logf}
	var errs []error
	for boot := 0; boot < 2; boot++ {
		errs = a.Early(c)
	}
	all := fmt.Sprint(errs)
	for _, want := range []string{
		`/etc/passwd: entry "bob" has 3 fields, want 7`,
		`/etc/shadow: entry "alice" has 1 fields, want 2`,
		`user carol: /etc/group: entry "ops" has 1 fields, want 4`,
		`user dave: gecos "Dave\nevil:x:0:0::/root:/bin/sh" holds a colon or a line break`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("errors lack %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "internal error") {
		t.Errorf("a panic was recovered: %s", all)
	}
	b, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if !strings.Contains(string(b), "bob:x:1001\n") || strings.Contains(string(b), "evil") {
		t.Errorf("passwd:\n%s", b)
	}
	g, _ := os.ReadFile(filepath.Join(root, "etc/group"))
	if !strings.Contains(string(g), "\nops\n") {
		t.Errorf("group lost the broken line:\n%s", g)
	}
}

// FuzzAccounts: any account files and any user-data user are applied
// without a panic, and what is written parses back to the same entries.
func FuzzAccounts(f *testing.F) {
	f.Add("root:x:0:0:root:/root:/bin/sh\nbob:x:1001\n", "root:x:0:\nops\n", "alice\n", "bob", "ops", "Bob")
	f.Add("", "", "", "alice", "adm", "a:b")
	f.Fuzz(func(t *testing.T, passwd, group, shadow, name, grp, gecos string) {
		a := ParseAccounts(passwd, group, shadow)
		if _, _, err := a.EnsureUser(User{Name: name, Groups: []string{grp}, Gecos: gecos}); err == nil {
			p, g, s := a.Files()
			b := ParseAccounts(p, g, s)
			if _, _, err := b.EnsureUser(User{Name: name, Groups: []string{grp}, Gecos: gecos}); err != nil {
				t.Fatalf("applied once, then: %v", err)
			}
		}
	})
}

// Root's writes for user-data never follow a link a user planted: not a
// ~/.ssh pointing at another user's, not a file in a home pointing at
// /etc/shadow, whether written, appended to or chmodded (issue 15.5).
func TestApplyFollowsNoUserSymlink(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"etc", "home/alice/.ssh", "home/mallory"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/shadow"), []byte("root:*:::::::\n"), 0o600)
	os.WriteFile(filepath.Join(root, "home/alice/.ssh/authorized_keys"), []byte("alice's key\n"), 0o600)
	// mallory's home: .ssh is alice's, and two files lead to /etc/shadow.
	os.Symlink("../alice/.ssh", filepath.Join(root, "home/mallory/.ssh"))
	os.Symlink("../../etc/shadow", filepath.Join(root, "home/mallory/log"))
	os.Symlink("../../etc/shadow", filepath.Join(root, "home/mallory/notes"))
	os.Symlink("../etc", filepath.Join(root, "home/mallory/conf"))
	c := &Config{
		Users: []User{{Name: "mallory", SSHAuthorizedKeys: []string{"mallory's key"}}},
		WriteFiles: []WriteFile{
			{Path: "/home/mallory/log", Content: []byte("appended\n"), Append: true, Permissions: 0o644},
			{Path: "/home/mallory/notes", Content: []byte("replaced\n"), Permissions: 0o644},
			{Path: "/home/mallory/conf/motd", Content: []byte("hi\n"), Permissions: 0o644},
		},
	}
	a := &Applier{Root: root, StateDir: filepath.Join(root, "state"),
		Run: func(_ context.Context, name, script string) error { return nil }, Logf: t.Logf}
	all := fmt.Sprint(a.Early(c))
	for _, want := range []string{
		"home/mallory/.ssh: is a symbolic link to ../alice/.ssh, which is not followed here",
		"home/mallory/log: is a symbolic link to ../../etc/shadow",
		"home/mallory/conf: is a symbolic link to ../etc",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("errors lack %q:\n%s", want, all)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "home/alice/.ssh/authorized_keys")); string(b) != "alice's key\n" {
		t.Errorf("alice's keys became %q", b)
	}
	st, _ := os.Stat(filepath.Join(root, "etc/shadow"))
	b, _ := os.ReadFile(filepath.Join(root, "etc/shadow"))
	if st.Mode().Perm() != 0o600 || strings.Contains(string(b), "appended") || strings.Contains(string(b), "replaced") {
		t.Errorf("/etc/shadow: mode %v, content %q", st.Mode(), b)
	}
	// A link as the last component of a plain write is replaced, not followed.
	if fi, err := os.Lstat(filepath.Join(root, "home/mallory/notes")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("notes: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/motd")); err == nil {
		t.Error("motd written through the conf link")
	}
}

// A seed file larger than user-data may be is refused before it is read
// into memory (issue 15.10: no cap on NoCloud's files).
func TestSeedFileCap(t *testing.T) {
	dir := t.TempDir()
	f, _ := os.Create(filepath.Join(dir, "user-data"))
	f.Truncate(maxSize + 1) // sparse: no disk used
	f.Close()
	if _, err := readSeedFile(dir, "user-data"); err == nil || !strings.Contains(err.Error(), "larger than 16 MiB") {
		t.Fatalf("got %v", err)
	}
	if b, err := readSeedFile(dir, "meta-data"); b != nil || err != nil {
		t.Fatalf("missing file: %q %v", b, err)
	}
}

// A bootcmd that never ends is ended: it held up every service and a
// trial slot's health gate for ever (issue 15.8).
func TestBootcmdHasADeadline(t *testing.T) {
	defer func(d time.Duration) { BootcmdTimeout = d }(BootcmdTimeout)
	BootcmdTimeout = 200 * time.Millisecond
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	var ran []string
	a := &Applier{Root: root, StateDir: filepath.Join(root, "state"), Logf: t.Logf,
		Run: func(ctx context.Context, name, script string) error {
			ran = append(ran, name)
			if script == "hang" {
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		}}
	start := time.Now()
	errs := a.Early(&Config{Bootcmd: []Command{{Shell: "hang"}, {Shell: "true"}}, Hostname: "h"})
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Early took %v", d)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "bootcmd[0] (hang): context deadline exceeded") {
		t.Fatalf("errors: %v", errs)
	}
	if strings.Join(ran, " ") != "bootcmd[0] bootcmd[1]" {
		t.Fatalf("ran %v", ran)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/hostname")); string(b) != "h\n" {
		t.Fatalf("the rest of user-data was not applied: hostname %q", b)
	}
}
