package kmod

import (
	"reflect"
	"strings"
	"testing"
)

const aliasFile = `# Aliases extracted from modules themselves.
alias fs-overlay overlay
alias net-pf-10 ipv6
alias pci:v00001AF4d00001000sv*sd*bc*sc*i* virtio_pci
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias nft-chain-2-nat nft_chain_nat
`

func TestResolve(t *testing.T) {
	a := &Tree{alias: []byte(aliasFile)}
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"fs-overlay", []string{"overlay"}},
		{"nft-chain-2-nat", []string{"nft_chain_nat"}},
		{"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", []string{"virtio_pci"}},
		{"ext4", []string{"ext4"}},
	} {
		if got := a.Resolve(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Resolve(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseAliasesError(t *testing.T) {
	_, err := ParseAliases(strings.NewReader("alias a\n"))
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseModprobeArgs(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		names  []string
		params string
		quiet  bool
		bad    bool
	}{
		{[]string{"-q", "--", "fs-overlay"}, []string{"fs-overlay"}, "", true, false},
		{[]string{"bridge"}, []string{"bridge"}, "", false, false},
		{[]string{"-a", "veth", "bridge"}, []string{"veth", "bridge"}, "", false, false},
		{[]string{"-va", "bridge", "br_netfilter"}, []string{"bridge", "br_netfilter"}, "", false, false},
		{[]string{"-qr", "loop"}, nil, "", false, true},
		{[]string{"loop", "max_loop=8"}, []string{"loop"}, "max_loop=8", false, false},
		{[]string{"-r", "loop"}, nil, "", false, true},
		{nil, nil, "", false, true},
	} {
		r, err := parseModprobeArgs(tc.args)
		if tc.bad {
			if err == nil {
				t.Errorf("%v: no error", tc.args)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(r.names, tc.names) || r.params != tc.params || r.quiet != tc.quiet {
			t.Errorf("%v: got %+v, %v", tc.args, r, err)
		}
	}
}

func TestParseList(t *testing.T) {
	got := ParseList("# boot modules\ncrc32c_generic\n-\next4 # file system\n\n vfat\n")
	want := []string{"crc32c_generic", "-", "ext4", "vfat"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
}
