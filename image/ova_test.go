package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The OVA holds the descriptor, the manifest and the disk, in that order;
// the descriptor names the disk with its size and capacity, a pvscsi
// controller, a vmxnet3 NIC and EFI firmware; the manifest's sums hold;
// the same inputs give the same bytes; and qemu-img reads the disk inside
// as the raw disk.
func TestWriteOVA(t *testing.T) {
	dir := t.TempDir()
	disk := testDisk(t, dir)
	epoch := time.Unix(1700000000, 0)
	if _, err := ConvertDisk(disk, dir, []byte("seed"), epoch); err != nil {
		t.Fatal(err)
	}
	vmdk := filepath.Join(dir, "berth.vmdk")
	a, b := filepath.Join(dir, "a.ova"), filepath.Join(dir, "b.ova")
	for _, p := range []string{a, b} {
		if err := WriteOVA(p, vmdk, 4<<20, "1.2.3", epoch); err != nil {
			t.Fatal(err)
		}
	}
	x, _ := os.ReadFile(a)
	if y, _ := os.ReadFile(b); !bytes.Equal(x, y) {
		t.Error("two OVAs of the same disk differ")
	}

	tr := tar.NewReader(bytes.NewReader(x))
	files := map[string][]byte{}
	var order []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(epoch) || h.Uid != 0 || h.Mode != 0o644 {
			t.Errorf("%s: time %v, uid %d, mode %o", h.Name, h.ModTime, h.Uid, h.Mode)
		}
		data, _ := io.ReadAll(tr)
		files[h.Name] = data
		order = append(order, h.Name)
	}
	if strings.Join(order, " ") != "berth.ovf berth.mf berth-disk1.vmdk" {
		t.Fatalf("members %v", order)
	}
	var env struct {
		File struct {
			Href string `xml:"href,attr"`
			Size int64  `xml:"size,attr"`
		} `xml:"References>File"`
		Disk struct {
			Capacity int64  `xml:"capacity,attr"`
			Format   string `xml:"format,attr"`
		} `xml:"DiskSection>Disk"`
		Items []struct {
			ResourceType    int    `xml:"ResourceType"`
			ResourceSubType string `xml:"ResourceSubType"`
		} `xml:"VirtualSystem>VirtualHardwareSection>Item"`
		Config []struct {
			Key   string `xml:"key,attr"`
			Value string `xml:"value,attr"`
		} `xml:"VirtualSystem>VirtualHardwareSection>Config"`
	}
	if err := xml.Unmarshal(files["berth.ovf"], &env); err != nil {
		t.Fatalf("descriptor: %v", err)
	}
	if env.File.Href != "berth-disk1.vmdk" || env.File.Size != int64(len(files["berth-disk1.vmdk"])) ||
		env.Disk.Capacity != 4<<20 || !strings.HasSuffix(env.Disk.Format, "#streamOptimized") {
		t.Errorf("descriptor's disk: %+v %+v", env.File, env.Disk)
	}
	hw := map[string]bool{}
	for _, it := range env.Items {
		hw[fmt.Sprint(it.ResourceType, it.ResourceSubType)] = true
	}
	if !hw["6VirtualSCSI"] || !hw["10VmxNet3"] || !hw["17"] {
		t.Errorf("descriptor's hardware: %+v", env.Items)
	}
	if len(env.Config) != 1 || env.Config[0].Key != "firmware" || env.Config[0].Value != "efi" {
		t.Errorf("descriptor's firmware: %+v", env.Config)
	}
	want := fmt.Sprintf("SHA256(berth.ovf)= %x\nSHA256(berth-disk1.vmdk)= %x\n", sha256.Sum256(files["berth.ovf"]), sha256.Sum256(files["berth-disk1.vmdk"]))
	if string(files["berth.mf"]) != want {
		t.Errorf("manifest:\n%s\nwant\n%s", files["berth.mf"], want)
	}
	inner, err := OVADisk(a, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "vmdk", disk, inner).CombinedOutput(); err != nil {
		t.Errorf("qemu-img compare: %v: %s", err, out)
	}
}
