package userdata

import (
	"reflect"
	"strings"
	"testing"
)

func yes() *bool { t := true; return &t }
func no() *bool  { f := false; return &f }

func TestParseNetworkConfigV2(t *testing.T) {
	nw, ds := ParseNetworkConfig("nocloud:/dev/sr0/network-config", []byte(`network:
  version: 2
  ethernets:
    lan:
      match: {macaddress: "52:54:00:12:34:56"}
      set-name: lan0
      addresses: [192.168.77.12/24]
      gateway4: 192.168.77.1
      routes:
        - {to: 10.9.0.0/16, via: 192.168.77.254}
      nameservers: {addresses: [192.168.77.1], search: [example.net]}
      mtu: 1400
    "en*":
      dhcp4: true
`))
	want := &Network{Interfaces: []Interface{
		{MAC: "52:54:00:12:34:56", DHCP: no(), Addresses: []string{"192.168.77.12/24"}, Gateway: "192.168.77.1",
			Routes: []Route{{To: "10.9.0.0/16", Via: "192.168.77.254"}}, MTU: 1400, DNS: []string{"192.168.77.1"}, Search: []string{"example.net"}},
		{Name: "en*", DHCP: yes()},
	}}
	if !reflect.DeepEqual(nw, want) {
		t.Errorf("got  %+v\nwant %+v", nw, want)
	}
	// set-name is the only thing not done: one warning, on its line.
	if len(ds) != 1 || !ds[0].Warning || ds[0].Line != 6 || ds[0].Key != "network.ethernets.lan.set-name" {
		t.Errorf("diagnostics: %v", ds)
	}
}

func TestParseNetworkConfigV2DefaultRoute(t *testing.T) {
	nw, ds := ParseNetworkConfig("x", []byte("version: 2\nethernets:\n  eth0:\n    addresses: [10.0.0.2/8]\n    routes: [{to: default, via: 10.0.0.1}]\n"))
	if len(ds) != 0 || nw.Interfaces[0].Gateway != "10.0.0.1" || len(nw.Interfaces[0].Routes) != 0 {
		t.Errorf("%+v %v", nw, ds)
	}
}

func TestParseNetworkConfigV1(t *testing.T) {
	nw, ds := ParseNetworkConfig("configdrive/network-config", []byte(`version: 1
config:
  - type: physical
    name: eth0
    mac_address: "52:54:00:aa:bb:cc"
    subnets:
      - type: static
        address: 10.1.2.3
        netmask: 255.255.255.0
        gateway: 10.1.2.1
        routes:
          - {network: 172.16.0.0, netmask: 255.240.0.0, gateway: 10.1.2.254}
  - type: physical
    name: eth1
    subnets: [{type: dhcp}]
  - type: nameserver
    address: [10.1.2.53]
    search: [corp.example]
`))
	want := &Network{Interfaces: []Interface{
		{MAC: "52:54:00:aa:bb:cc", DHCP: no(), Addresses: []string{"10.1.2.3/24"}, Gateway: "10.1.2.1",
			Routes: []Route{{To: "172.16.0.0/12", Via: "10.1.2.254"}}, DNS: []string{"10.1.2.53"}, Search: []string{"corp.example"}},
		{Name: "eth1", DHCP: yes(), DNS: []string{"10.1.2.53"}, Search: []string{"corp.example"}},
	}}
	if len(ds) != 0 || !reflect.DeepEqual(nw, want) {
		t.Errorf("got  %+v %v\nwant %+v", nw, ds, want)
	}
}

// Bad entries are named with their line and left out; the good ones stay.
func TestParseNetworkConfigBad(t *testing.T) {
	for _, c := range []struct {
		name, in string
		line     int
		key, msg string
		ifaces   int
	}{
		{"yaml", "version: 2\nethernets: [\n", 2, "", "invalid YAML", 0},
		{"no version", "ethernets: {}\n", 1, "version", "no version", 0},
		{"version 3", "version: 3\n", 1, "version", "version 3", 0},
		{"bad address", "version: 2\nethernets:\n  eth0:\n    addresses: [10.0.0.300/24]\n  eth1: {dhcp4: true}\n", 4, "ethernets.eth0.addresses[0]", "not an address", 1},
		{"bad gateway", "version: 2\nethernets:\n  eth0:\n    addresses: [10.0.0.3/24]\n    gateway4: nope\n", 5, "ethernets.eth0.gateway4", "not an IP address", 0},
		{"v1 no mask", "version: 1\nconfig:\n  - type: physical\n    name: eth0\n    subnets:\n      - type: static\n        address: 10.0.0.3\n", 6, "config[0].subnets[0].address", "no netmask", 0},
		{"v1 unknown subnet", "version: 1\nconfig:\n  - type: physical\n    name: eth0\n    subnets: [{type: ppp}]\n", 5, "config[0].subnets[0].type", "ppp", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			nw, ds := ParseNetworkConfig("nc", []byte(c.in))
			if len(ds) == 0 || ds[0].Line != c.line || ds[0].Key != c.key || !strings.Contains(ds[0].Msg, c.msg) || ds[0].File != "nc" {
				t.Errorf("diagnostics %v: want line %d key %q /%s/", ds, c.line, c.key, c.msg)
			}
			n := 0
			if nw != nil {
				n = len(nw.Interfaces)
			}
			if n != c.ifaces {
				t.Errorf("%d interfaces applied, want %d: %+v", n, c.ifaces, nw)
			}
		})
	}
	if nw, ds := ParseNetworkConfig("nc", []byte("network:\n  config: disabled\n")); nw != nil || ds != nil {
		t.Errorf("config: disabled: %+v %v", nw, ds)
	}
}

func TestParseNetworkData(t *testing.T) {
	nw, ds := ParseNetworkData("configdrive/network_data.json", []byte(`{
  "links": [
    {"id": "tap0", "type": "phy", "ethernet_mac_address": "fa:16:3e:00:00:01", "mtu": 1450},
    {"id": "tap1", "type": "phy", "ethernet_mac_address": "fa:16:3e:00:00:02"}
  ],
  "networks": [
    {"id": "net0", "type": "ipv4", "link": "tap0", "ip_address": "10.20.0.5", "netmask": "255.255.255.0",
     "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.20.0.1"}]},
    {"id": "net1", "type": "ipv4_dhcp", "link": "tap1"},
    {"id": "net2", "type": "ipv4", "link": "tap9", "ip_address": "10.0.0.1", "netmask": "255.0.0.0"}
  ],
  "services": [{"type": "dns", "address": "10.20.0.2"}]
}`))
	want := &Network{Interfaces: []Interface{
		{MAC: "fa:16:3e:00:00:01", DHCP: no(), Addresses: []string{"10.20.0.5/24"}, Gateway: "10.20.0.1", MTU: 1450, DNS: []string{"10.20.0.2"}},
		{MAC: "fa:16:3e:00:00:02", DHCP: yes(), DNS: []string{"10.20.0.2"}},
	}}
	if !reflect.DeepEqual(nw, want) {
		t.Errorf("got  %+v\nwant %+v", nw, want)
	}
	if len(ds) != 1 || !strings.Contains(ds[0].Msg, `link "tap9"`) {
		t.Errorf("diagnostics: %v", ds)
	}
	_, ds = ParseNetworkData("nd.json", []byte("{\n  \"links\": [\n    {\"id\": 1,}\n  ]\n}"))
	if len(ds) != 1 || ds[0].Line != 3 || ds[0].File != "nd.json" {
		t.Errorf("bad JSON: %v", ds)
	}
}

// The user-data's own berth.network wins over the datasource's.
func TestLoadTakesNetworkConfig(t *testing.T) {
	nc := []byte("version: 2\nethernets:\n  eth0: {addresses: [10.0.0.2/24]}\n")
	c, _, ds := Load(&Seed{Source: "nocloud:/dev/sr0", UserData: []byte("#cloud-config\nhostname: a\n"), NetworkConfig: nc})
	if len(ds) != 0 || c.Berth.Network == nil || c.Berth.Network.Interfaces[0].Addresses[0] != "10.0.0.2/24" {
		t.Errorf("network-config not taken: %+v %v", c.Berth.Network, ds)
	}
	c, _, ds = Load(&Seed{Source: "nocloud:/dev/sr0", UserData: []byte("#cloud-config\nberth:\n  network:\n    interfaces: [{name: eth1}]\n"), NetworkConfig: nc})
	if len(ds) != 1 || !ds[0].Warning || c.Berth.Network.Interfaces[0].Name != "eth1" {
		t.Errorf("berth.network should win: %+v %v", c.Berth.Network, ds)
	}
}

func FuzzParseNetworkConfig(f *testing.F) {
	f.Add([]byte("version: 2\nethernets:\n  eth0: {dhcp4: true, addresses: [10.0.0.2/24], routes: [{to: default, via: 10.0.0.1}]}\n"))
	f.Add([]byte("version: 1\nconfig:\n  - {type: physical, name: eth0, subnets: [{type: static, address: 10.0.0.2, netmask: 255.0.0.0}]}\n"))
	f.Fuzz(func(t *testing.T, b []byte) { ParseNetworkConfig("fuzz", b) })
}

func FuzzParseNetworkData(f *testing.F) {
	f.Add([]byte(`{"links":[{"id":"a","ethernet_mac_address":"fa:16:3e:00:00:01"}],"networks":[{"id":"n","type":"ipv4","link":"a","ip_address":"10.0.0.2","netmask":"255.0.0.0"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) { ParseNetworkData("fuzz", b) })
}

func TestOpenStackMetaData(t *testing.T) {
	b, err := openStackMetaData([]byte(`{"uuid": "8367-aa", "hostname": "web-1.novalocal", "name": "web 1"}`))
	if err != nil {
		t.Fatal(err)
	}
	md, ds := ParseMetaData(&Seed{Source: "configdrive:/dev/sr0", MetaData: b})
	if len(ds) != 0 || md.InstanceID != "8367-aa" || md.LocalHostname != "web-1" {
		t.Errorf("%+v %v", md, ds)
	}
	if _, err := openStackMetaData([]byte(`{"uuid": 7`)); err == nil {
		t.Error("bad JSON taken")
	}
}

func FuzzOpenStackMetaData(f *testing.F) {
	f.Add([]byte(`{"uuid": "8367-aa", "hostname": "web-1.novalocal"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if out, err := openStackMetaData(b); err == nil {
			ParseMetaData(&Seed{MetaData: out})
		}
	})
}
