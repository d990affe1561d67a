package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// QEMU's first NIC has this MAC: the network configurations match it.
const firstMAC = "52:54:00:12:34:56"

// OpenStack's config drive, as Nova writes it (an ISO9660 volume labelled
// config-2), made here with xorriso: user_data, meta_data.json's uuid and
// hostname, and network_data.json's static address on the link with the
// machine's MAC, used instead of DHCP.
func TestConfigDrive(t *testing.T) {
	t.Parallel()
	port := hostHTTP(t, map[string]string{"/hello": "config drive hello\n"})
	dir := t.TempDir()
	tree := filepath.Join(dir, "drive")
	latest := filepath.Join(tree, "openstack", "latest")
	os.MkdirAll(latest, 0o755)
	os.WriteFile(filepath.Join(latest, "user_data"), []byte("#cloud-config\ntimezone: Europe/Berlin\n"), 0o644)
	os.WriteFile(filepath.Join(latest, "meta_data.json"), []byte(`{"uuid": "83679162-1378-4288-a2d4-70e13ec132aa", "hostname": "from-configdrive.novalocal", "name": "vm1"}`), 0o644)
	os.WriteFile(filepath.Join(latest, "network_data.json"), []byte(fmt.Sprintf(`{
  "links": [{"id": "tap0", "type": "phy", "ethernet_mac_address": %q, "mtu": 1400}],
  "networks": [{"id": "net0", "type": "ipv4", "link": "tap0", "ip_address": "10.0.2.15", "netmask": "255.255.255.0",
                "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.2.2"}]}],
  "services": [{"type": "dns", "address": "10.0.2.3"}]
}`, firstMAC)), 0o644)
	iso := filepath.Join(dir, "config-drive.iso")
	if out, err := exec.Command("xorriso", "-as", "mkisofs", "-V", "config-2", "-J", "-r", "-o", iso, tree).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v: %s", err, out)
	}
	vm, sh := bootSeeded(t, dir, []string{"-cdrom", iso})
	seen(t, vm, `^berth: user-data: from configdrive:/dev/sr0, instance 83679162-1378-4288-a2d4-70e13ec132aa$`)
	st := netStatus(t, sh)
	e := eth0(st)
	if !st.Online || e.Mode != "static" || e.Lease != nil || e.MTU != 1400 || !slices.Contains(e.Addresses, "10.0.2.15/24") || !slices.Contains(st.DNS, "10.0.2.3") {
		t.Errorf("network from network_data.json: %+v", st)
	}
	if out := must(t, sh, fmt.Sprintf("wget -q -O - http://10.0.2.2:%d/hello", port)); out != "config drive hello\n" {
		t.Errorf("wget through the static route: %q", out)
	}
	waitStatus(t, sh, "from-configdrive")
	if out := must(t, sh, "readlink /host/etc/localtime"); !strings.HasSuffix(out, "Europe/Berlin\n") {
		t.Errorf("timezone from user_data: %q", out)
	}
}

// NoCloud's network-config (version 2, netplan style) as cloud-localds
// --network-config puts it on the seed: the good ethernet is applied, a
// bad one is named with its file and line and left out, and the boot goes
// on.
func TestNoCloudNetworkConfig(t *testing.T) {
	t.Parallel()
	port := hostHTTP(t, map[string]string{"/hello": "netplan hello\n"})
	dir := t.TempDir()
	nc := filepath.Join(dir, "network-config")
	os.WriteFile(nc, []byte(fmt.Sprintf(`network:
  version: 2
  ethernets:
    lan:
      match: {macaddress: %q}
      addresses: [10.0.2.16/24]
      routes: [{to: default, via: 10.0.2.2}]
      nameservers: {addresses: [10.0.2.3], search: [example.org]}
    spare:
      match: {name: eth9}
      addresses: [10.0.3.300/24]
`, firstMAC)), 0o644)
	ud, md, iso := filepath.Join(dir, "user-data"), filepath.Join(dir, "meta-data"), filepath.Join(dir, "seed.iso")
	os.WriteFile(ud, []byte("#cloud-config\nhostname: from-netplan\n"), 0o644)
	os.WriteFile(md, []byte("instance-id: iid-netplan\n"), 0o644)
	if out, err := exec.Command("cloud-localds", "--network-config="+nc, iso, ud, md).CombinedOutput(); err != nil {
		t.Fatalf("cloud-localds: %v: %s", err, out)
	}
	vm, sh := bootSeeded(t, dir, []string{"-cdrom", iso})
	seen(t, vm, `^berth: user-data: from nocloud:/dev/sr0, instance iid-netplan$`)
	seen(t, vm, `^berth: user-data: nocloud:/dev/sr0/network-config:11: network\.ethernets\.spare\.addresses\[0\]: "10\.0\.3\.300/24" is not an address`)
	st := netStatus(t, sh)
	e := eth0(st)
	if !st.Online || e.Mode != "static" || e.Lease != nil || !slices.Contains(e.Addresses, "10.0.2.16/24") || !slices.Contains(st.Search, "example.org") {
		t.Errorf("network from network-config: %+v", st)
	}
	if out := must(t, sh, fmt.Sprintf("wget -q -O - http://10.0.2.2:%d/hello", port)); out != "netplan hello\n" {
		t.Errorf("wget through the static route: %q", out)
	}
	waitStatus(t, sh, "from-netplan")
}

// Google Compute Engine's metadata server, faked behind QEMU's guestfwd
// on a machine whose DMI data says Google Compute Engine (as GCE's do).
// The fake answers only requests with Metadata-Flavor: Google and the
// server's host name, and marks its answers the same way.
func TestGCEMetadata(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"id":                   "4520031799277581759",
		"hostname":             "from-gce.c.berth-test.internal",
		"attributes/user-data": "#cloud-config\ntimezone: Asia/Tokyo\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, "md", name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	script := responder(t, dir, "gce.sh", `
f=`+dir+`/md/${path#/computeMetadata/v1/instance/}
if [ "$(header metadata-flavor)" != Google ] || [ "$(header host)" != metadata.google.internal ]; then
  printf 'HTTP/1.0 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'; exit 0
fi
case "$path" in /computeMetadata/v1/instance/*) ;; *) f=/nonexistent ;; esac
if [ ! -f "$f" ]; then
  printf 'HTTP/1.0 404 Not Found\r\nMetadata-Flavor: Google\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'; exit 0
fi
printf 'HTTP/1.0 200 OK\r\nMetadata-Flavor: Google\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' "$(wc -c < "$f")"
cat "$f"
`)
	cfg := metadataMachine(t, script)
	cfg.Extra = []string{"-smbios", "type=1,manufacturer=Google,product=Google Compute Engine"}
	vm, sh := bootShell(t, cfg)
	if _, err := vm.Console.Seen(regexp.MustCompile(`^berth: user-data: from gce:metadata\.google\.internal, instance 4520031799277581759$`), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, sh, "from-gce")
	if out := must(t, sh, "readlink /host/etc/localtime"); !strings.HasSuffix(out, "Asia/Tokyo\n") {
		t.Errorf("timezone from the user-data attribute: %q", out)
	}
}
