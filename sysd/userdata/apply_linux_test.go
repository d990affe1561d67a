package userdata

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
		Run:         func(name, script string) error { ran = append(ran, name+": "+script); return nil },
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

func TestLabelType(t *testing.T) {
	fat := make([]byte, 512)
	fat[510], fat[511] = 0x55, 0xAA
	copy(fat[0x52:], "FAT32   ")
	copy(fat[0x47:], "cidata     ")
	if LabelType(fat, "CIDATA") != "vfat" {
		t.Error("FAT32 label not found")
	}
	iso := make([]byte, 0x8800)
	copy(iso[0x8001:], "CD001")
	copy(iso[0x8028:], "CIDATA                          ")
	if LabelType(iso, "CIDATA") != "iso9660" {
		t.Error("ISO9660 label not found")
	}
	if LabelType(make([]byte, 0x8800), "CIDATA") != "" {
		t.Error("zeros recognised")
	}
}
