package tests

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/qemu"
	"berth.dev/berth/qemu/vmtest"
	"berth.dev/berth/sysd/api/wire"
)

// hostHTTP serves files on the host's loopback, which QEMU's user
// networking shows the guest as 10.0.2.2; it returns the port.
func hostHTTP(t *testing.T, files map[string]string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func netStatus(t *testing.T, sh *qemu.Shell) wire.Net {
	t.Helper()
	var st wire.Net
	deadline := time.Now().Add(90 * time.Second)
	for {
		out := must(t, sh, "os-ctl net --json")
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("os-ctl net --json: %v\n%s", err, out)
		}
		if st.Online || time.Now().After(deadline) {
			return st
		}
		time.Sleep(time.Second)
	}
}

func eth0(st wire.Net) wire.Link {
	for _, l := range st.Links {
		if l.Name == "eth0" {
			return l
		}
	}
	return wire.Link{}
}

// DHCP from QEMU's user networking gives an address, a default route and
// resolv.conf; the kernel command line's ds=nocloud;s=URL then brings
// user-data over HTTP, whose service waits for network-online.
func TestDHCPAndUserDataFromURL(t *testing.T) {
	t.Parallel()
	port := hostHTTP(t, map[string]string{
		"/hello": "hello from the host\n",
		"/seed/user-data": `#cloud-config
berth:
  services:
    - name: online.service
      content: |
        [Unit]
        After=network-online.target
        [Container]
        Image=toolbox
        Network=host
        Exec=sleep 100000
`,
		"/seed/meta-data": "instance-id: iid-url\nlocal-hostname: from-url\n",
	})
	cfg := direct(vmtest.FindBuild(t), "A")
	cfg.Append += fmt.Sprintf(" ds=nocloud;s=http://10.0.2.2:%d/seed/", port)
	vm, sh := bootShell(t, cfg)
	st := netStatus(t, sh)
	e := eth0(st)
	if !st.Online || e.Mode != "dhcp" || e.Lease == nil || e.Lease.Address != "10.0.2.15/24" || e.Lease.Router != "10.0.2.2" {
		t.Fatalf("network: %+v", st)
	}
	if !slices.Contains(st.Routes, "default via 10.0.2.2 dev eth0") {
		t.Errorf("routes: %v", st.Routes)
	}
	if out := must(t, sh, "cat /host/etc/resolv.conf"); !strings.Contains(out, "nameserver 10.0.2.3\n") {
		t.Errorf("resolv.conf:\n%s", out)
	}
	if out := must(t, sh, fmt.Sprintf("wget -q -O - http://10.0.2.2:%d/hello", port)); out != "hello from the host\n" {
		t.Errorf("wget: %q", out)
	}
	if _, err := vm.Console.Seen(regexp.MustCompile(`^berth: user-data: from url:http://10\.0\.2\.2:\d+/seed/, instance iid-url$`), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	waitFor(t, sh, "online", "up", func(s wire.Service) bool { return s.Up })
	if out := must(t, sh, "os-ctl status"); !strings.Contains(out, "from-url") {
		t.Errorf("hostname from meta-data:\n%s", out)
	}

	// The cable out and in again: DHCP again when the carrier is back.
	q, err := vm.QMP()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Execute("set_link", map[string]any{"name": "net0", "up": false}); err != nil {
		t.Fatal(err)
	}
	vm.MustExpect(t, `^berth: network: eth0: carrier lost$`, time.Minute)
	if _, err := q.Execute("set_link", map[string]any{"name": "net0", "up": true}); err != nil {
		t.Fatal(err)
	}
	vm.MustExpect(t, `^berth: network: eth0: DHCP lease 10\.0\.2\.15/24 from 10\.0\.2\.2`, time.Minute)
}

// Static addressing from user-data (fw_cfg): no DHCP, the same working
// route and DNS.
func TestStaticNetwork(t *testing.T) {
	t.Parallel()
	port := hostHTTP(t, map[string]string{"/hello": "static hello\n"})
	dir := t.TempDir()
	ud := filepath.Join(dir, "user-data")
	os.WriteFile(ud, []byte(`#cloud-config
berth:
  network:
    interfaces:
      - name: eth*
        dhcp: false
        addresses: [10.0.2.15/24]
        gateway: 10.0.2.2
        dns: [10.0.2.3]
        search: [example.net]
`), 0o644)
	_, sh := bootSeeded(t, dir, []string{"-fw_cfg", "name=opt/berth/user-data,file=" + ud})
	st := netStatus(t, sh)
	e := eth0(st)
	if !st.Online || e.Mode != "static" || e.Lease != nil || !slices.Contains(e.Addresses, "10.0.2.15/24") {
		t.Fatalf("network: %+v", st)
	}
	if out := must(t, sh, "cat /host/etc/resolv.conf"); !strings.Contains(out, "nameserver 10.0.2.3\nsearch example.net\n") {
		t.Errorf("resolv.conf:\n%s", out)
	}
	if out := must(t, sh, fmt.Sprintf("wget -q -O - http://10.0.2.2:%d/hello", port)); out != "static hello\n" {
		t.Errorf("wget: %q", out)
	}
}

// An EC2-style metadata service that speaks only IMDSv2 (the default on
// new AWS instances): a session token from PUT /latest/api/token, and
// every GET without it refused. It is reached through QEMU's guestfwd
// (which needs the address inside the guest's network: the network is
// 169.254.0.0/16 here); each connection runs a tiny responder script.
func TestMetadataService(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "instance-id"), []byte("i-0123456789\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "user-data"), []byte("#cloud-config\nhostname: from-metadata\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "token"), []byte("AQAEAberth-test-token=="), 0o644)
	script := responder(t, dir, "imds.sh", `
token=$(header x-aws-ec2-metadata-token)
reply() { printf 'HTTP/1.0 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' "$1"; exit 0; }
if [ "$method $path" = "PUT /latest/api/token" ]; then
  [ -n "$(header x-aws-ec2-metadata-token-ttl-seconds)" ] || reply '400 Bad Request'
  f=`+dir+`/token
elif [ "$token" != "$(cat `+dir+`/token)" ]; then
  reply '401 Unauthorized'
else
  case "$path" in
  /latest/meta-data/instance-id) f=`+dir+`/instance-id ;;
  /latest/user-data) f=`+dir+`/user-data ;;
  *) reply '404 Not Found' ;;
  esac
fi
printf 'HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' "$(wc -c < "$f")"
cat "$f"
`)
	vm, sh := bootShell(t, metadataMachine(t, script))
	if _, err := vm.Console.Seen(regexp.MustCompile(`^berth: user-data: from ec2:http://169\.254\.169\.254, instance i-0123456789$`), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if out := must(t, sh, "os-ctl status"); !strings.Contains(out, "from-metadata") {
		t.Errorf("hostname from the metadata service:\n%s", out)
	}
}

// A link where nobody answers DHCP: the boot does not wait; services that
// do not need the network run; one ordered after network-online.target
// starts when online_timeout has passed.
func TestNoDHCPAnswerDoesNotBlock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ud := filepath.Join(dir, "user-data")
	os.WriteFile(ud, []byte(`#cloud-config
berth:
  network:
    online_timeout: 10s
  services:
    - name: late.service
      content: |
        [Unit]
        After=network-online.target
        [Container]
        Image=toolbox
        Exec=sleep 100000
`), 0o644)
	cfg := direct(vmtest.FindBuild(t), "A")
	cfg.Dir = dir
	// A network card whose cable leads nowhere (UDP to a port nobody
	// reads).
	cfg.NetDev = "socket,id=net0,udp=127.0.0.1:9,localaddr=127.0.0.1:0"
	cfg.Extra = []string{"-fw_cfg", "name=opt/berth/user-data,file=" + ud}
	vm, sh := bootShell(t, cfg)
	if s := services(t, sh)["late"]; s.State != "waiting" || s.Waiting != "waiting for the network to be online" {
		t.Errorf("late: %+v", s)
	}
	vm.MustExpect(t, `^berth: network: not online after 10s`, time.Minute)
	waitFor(t, sh, "late", "up", func(s wire.Service) bool { return s.Up })
	var st wire.Net
	json.Unmarshal([]byte(must(t, sh, "os-ctl net --json")), &st)
	if st.Online || eth0(st).Lease != nil {
		t.Errorf("network: %+v", st)
	}
}

// metadataMachine is a machine on the network 169.254.0.0/16 whose
// connections to 169.254.169.254:80, a metadata service's address, run
// script on the host (QEMU's guestfwd, which needs the address inside the
// guest's network).
func metadataMachine(t *testing.T, script string) qemu.Config {
	cfg := direct(vmtest.FindBuild(t), "A")
	cfg.NetDev = "user,id=net0,net=169.254.0.0/16,host=169.254.0.2,dns=169.254.0.3,dhcpstart=169.254.0.15,guestfwd=tcp:169.254.169.254:80-cmd:" + script
	return cfg
}

// responder writes an HTTP responder script for one connection: it
// reads the request into $method and $path, and header NAME (lowercase)
// prints a request header's value; body answers.
func responder(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	head := `#!/bin/sh
read -r method path proto
headers=
while read -r line; do
  line=$(printf %s "$line" | tr -d '\r')
  [ -z "$line" ] && break
  headers="$headers$line
"
done
header() {
  printf %s "$headers" | while IFS= read -r h; do
    [ "$(printf %s "${h%%:*}" | tr A-Z a-z)" = "$1" ] && printf %s "${h#*: }"
  done
}
`
	if err := os.WriteFile(p, []byte(head+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
