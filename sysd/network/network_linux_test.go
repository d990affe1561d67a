package network

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/userdata"
)

// The client half runs as this test binary re-executed inside the
// client's network namespace (`ip netns exec`), so that every thread of
// it is there.
func TestMain(m *testing.M) {
	if mode := os.Getenv("BERTH_NET_CLIENT"); mode != "" {
		os.Exit(client(mode))
	}
	os.Exit(m.Run())
}

// client configures v1 as mode says and prints the status as JSON once
// online (or after the wait given), then keeps going for BERTH_NET_HOLD.
func client(mode string) int {
	m := &Manager{ResolvConf: os.Getenv("BERTH_RESOLV"), Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) },
		Manage: func(l netlink.Link) bool { return l.Attrs().Name == "v1" }}
	if mode == "static" {
		f := false
		m.Config = &userdata.Network{Interfaces: []userdata.Interface{{Name: "v*", DHCP: &f,
			Addresses: []string{"10.9.0.77/24"}, Gateway: "10.9.0.1", DNS: []string{"10.9.0.53"}, Search: []string{"example.net"},
			MTU: 1400, Routes: []userdata.Route{{To: "192.168.50.0/24", Via: "10.9.0.2"}}}}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	select {
	case <-m.Online():
	case <-time.After(20 * time.Second):
		fmt.Fprintln(os.Stderr, "not online")
		return 1
	}
	hold, _ := time.ParseDuration(os.Getenv("BERTH_NET_HOLD"))
	if mode == "unplug" {
		// The NIC goes away, as a hot-unplugged one does.
		if l, err := netlink.LinkByName("v1"); err == nil {
			netlink.LinkDel(l)
		}
	}
	time.Sleep(hold)
	json.NewEncoder(os.Stdout).Encode(m.Status())
	cancel()
	time.Sleep(200 * time.Millisecond) // the release goes out
	return 0
}

// pair makes namespaces srv and cli joined by a veth (v0 in srv at
// 10.9.0.1/24, v1 in cli) and returns srv's handle.
func pair(t *testing.T) (netns.NsHandle, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip")
	}
	id := fmt.Sprintf("berth%d", os.Getpid()%100000)
	srvName, cliName := id+"s", id+"c"
	sh := func(args ...string) {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	sh("netns", "add", srvName)
	sh("netns", "add", cliName)
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", srvName).Run()
		exec.Command("ip", "netns", "del", cliName).Run()
	})
	sh("link", "add", "v0", "netns", srvName, "type", "veth", "peer", "v1", "netns", cliName)
	sh("-n", srvName, "addr", "add", "10.9.0.1/24", "dev", "v0")
	sh("-n", srvName, "link", "set", "v0", "up")
	sh("-n", srvName, "link", "set", "lo", "up")
	h, err := netns.GetFromName(srvName)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, cliName
}

// serve runs a DHCP server on v0 in srv: 10.9.0.50/24, router and DNS
// 10.9.0.1, the given lease time; it counts REQUESTs.
func serve(t *testing.T, srv netns.NsHandle, lease time.Duration, requests *atomic.Int32) *server4.Server {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, _ := netns.Get()
	defer orig.Close()
	if err := netns.Set(srv); err != nil {
		t.Fatal(err)
	}
	defer netns.Set(orig)
	handler := func(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
		typ := dhcpv4.MessageTypeOffer
		switch m.MessageType() {
		case dhcpv4.MessageTypeDiscover:
		case dhcpv4.MessageTypeRequest:
			typ = dhcpv4.MessageTypeAck
			requests.Add(1)
		default:
			return
		}
		reply, err := dhcpv4.NewReplyFromRequest(m,
			dhcpv4.WithMessageType(typ),
			dhcpv4.WithYourIP(net.IPv4(10, 9, 0, 50)),
			dhcpv4.WithServerIP(net.IPv4(10, 9, 0, 1)),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 9, 0, 1))),
			dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
			dhcpv4.WithRouter(net.IPv4(10, 9, 0, 1)),
			dhcpv4.WithDNS(net.IPv4(10, 9, 0, 1)),
			dhcpv4.WithOption(dhcpv4.OptDomainName("lan.example")),
			dhcpv4.WithLeaseTime(uint32(lease.Seconds())))
		if err != nil {
			return
		}
		dst := peer
		if u, ok := peer.(*net.UDPAddr); ok && (u.IP.IsUnspecified() || m.IsBroadcast()) {
			dst = &net.UDPAddr{IP: net.IPv4bcast, Port: 68}
		}
		conn.WriteTo(reply.ToBytes(), dst)
	}
	s, err := server4.NewServer("v0", &net.UDPAddr{IP: net.IPv4zero, Port: 67}, handler)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	return s
}

func runClient(t *testing.T, ns, mode, hold string) (st wire.Net, resolvConf, log string) {
	t.Helper()
	self, _ := os.Executable()
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	cmd := exec.Command("ip", "netns", "exec", ns, self)
	cmd.Env = append(os.Environ(), "BERTH_NET_CLIENT="+mode, "BERTH_RESOLV="+resolv, "BERTH_NET_HOLD="+hold)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("client: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("client output: %v\n%s\n%s", err, out, stderr.String())
	}
	b, _ := os.ReadFile(resolv)
	t.Logf("client log:\n%s", stderr.String())
	return st, string(b), stderr.String()
}

func linkOf(st wire.Net, name string) wire.Link {
	for _, l := range st.Links {
		if l.Name == name {
			return l
		}
	}
	return wire.Link{}
}

func TestDHCPLeaseRenewAndRelease(t *testing.T) {
	srv, cli := pair(t)
	var requests atomic.Int32
	serve(t, srv, 4*time.Second, &requests)
	// Held 3 s past a 4 s lease's T1 (2 s): at least one renewal.
	st, resolv, _ := runClient(t, cli, "dhcp", "3s")
	v1 := linkOf(st, "v1")
	if !st.Online || v1.Lease == nil || v1.Lease.Address != "10.9.0.50/24" || v1.Lease.Router != "10.9.0.1" || v1.Mode != "dhcp" {
		t.Fatalf("status: %+v", st)
	}
	if !slices.Contains(st.Routes, "default via 10.9.0.1 dev v1") {
		t.Errorf("routes: %v", st.Routes)
	}
	if resolv != "# Written by sysd from user-data (berth.network) and DHCP.\nnameserver 10.9.0.1\nsearch lan.example\n" {
		t.Errorf("resolv.conf:\n%s", resolv)
	}
	if n := requests.Load(); n < 2 {
		t.Errorf("%d DHCP requests: the lease was not renewed", n)
	}
}

func TestStaticConfiguration(t *testing.T) {
	_, cli := pair(t)
	st, resolv, _ := runClient(t, cli, "static", "0s")
	v1 := linkOf(st, "v1")
	if v1.Mode != "static" || v1.MTU != 1400 || v1.Lease != nil || !slices.Contains(v1.Addresses, "10.9.0.77/24") {
		t.Fatalf("v1: %+v", v1)
	}
	for _, r := range []string{"default via 10.9.0.1 dev v1", "192.168.50.0/24 via 10.9.0.2 dev v1"} {
		if !slices.Contains(st.Routes, r) {
			t.Errorf("no route %q in %v", r, st.Routes)
		}
	}
	if !strings.Contains(resolv, "nameserver 10.9.0.53\nsearch example.net\n") {
		t.Errorf("resolv.conf:\n%s", resolv)
	}
}

// A NIC that goes away while it holds a lease is forgotten: its DHCP
// client stops without errors piling up, and the status drops it.
func TestUnpluggedLinkIsForgotten(t *testing.T) {
	srv, cli := pair(t)
	var requests atomic.Int32
	serve(t, srv, time.Hour, &requests)
	st, _, log := runClient(t, cli, "unplug", "6s")
	if l := linkOf(st, "v1"); l.Name != "" {
		t.Errorf("the unplugged link is still in the status: %+v", l)
	}
	_, after, ok := strings.Cut(log, "network: v1: removed\n")
	if !ok {
		t.Fatalf("no removal in the log:\n%s", log)
	}
	if strings.Contains(after, "v1") {
		t.Errorf("the removed link is still talked about:\n%s", after)
	}
}
