package image

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestLockRoundTrip(t *testing.T) {
	in := Lock{
		"initrd": {{"libc6", "2.36-9+deb12u14", "amd64"}, {"e2fsprogs", "1.47.0-2+b2", "amd64"}},
		"kernel": {{"linux-image-6.1.0-50-amd64", "6.1.176-1", "amd64"}},
	}
	var b bytes.Buffer
	if err := in.Write(&b); err != nil {
		t.Fatal(err)
	}
	out, err := ParseLock("packages.lock", &b)
	if err != nil {
		t.Fatal(err)
	}
	if out["initrd"][0].Name != "e2fsprogs" || !reflect.DeepEqual(out["kernel"], in["kernel"]) || len(out["initrd"]) != 2 {
		t.Fatalf("got %v", out)
	}
}

func TestParseLockErrors(t *testing.T) {
	for in, want := range map[string]string{
		"a 1 amd64\n":             "packages.lock:1: package a is outside a [group]",
		"[g]\na 1\n":              "packages.lock:2: want \"NAME VERSION ARCH\"",
		"[g]\n[g]\n":              "packages.lock:2: group [g] appears twice",
		"# c\n[g]\n\nx 1 all #\n": "",
	} {
		_, err := ParseLock("packages.lock", strings.NewReader(in))
		if want == "" {
			if err != nil {
				t.Errorf("%q: %v", in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", in, err, want)
		}
	}
}

func TestParseSimulation(t *testing.T) {
	out := `NOTE: This is only a simulation!
Inst gcc-12-base (12.2.0-14+deb12u1 Debian:12.15/oldstable [amd64])
Inst libgcc-s1 (12.2.0-14+deb12u1 Debian:12.15/oldstable [amd64]) []
Inst tzdata (2025b-0+deb12u2 Debian:12.15/oldstable [all])
Conf gcc-12-base (12.2.0-14+deb12u1 Debian:12.15/oldstable [amd64])
`
	got := ParseSimulation(out)
	want := []Pkg{{"gcc-12-base", "12.2.0-14+deb12u1", "amd64"}, {"libgcc-s1", "12.2.0-14+deb12u1", "amd64"}, {"tzdata", "2025b-0+deb12u2", "all"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	if f := (Pkg{"a", "1:2.0", "amd64"}).DebFile(); f != "a_1%3a2.0_amd64.deb" {
		t.Fatalf("DebFile %s", f)
	}
}

// make lock's -keep: what the old lock pins keeps its version, a new
// package takes the one resolved, a package no list needs any more goes.
func TestPinned(t *testing.T) {
	got := pinned([]Pkg{{"bash", "5.3", "amd64"}, {"jq", "1.7", "amd64"}},
		[]Pkg{{"bash", "5.2", "amd64"}, {"gone", "1", "all"}})
	want := []Pkg{{"bash", "5.2", "amd64"}, {"jq", "1.7", "amd64"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
