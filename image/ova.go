package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/template"
	"time"

	"berth.dev/berth/update"
)

// The OVA for VMware: an OVF descriptor naming the hardware Berth has
// drivers for (EFI firmware, VMware's paravirtual SCSI, vmxnet3), its
// stream-optimized VMDK, and a manifest of SHA-256 sums, in one tar.
const (
	ovaDisk     = "berth-disk1.vmdk"
	ovaOVF      = "berth.ovf"
	ovaManifest = "berth.mf"
)

// ovfTemplate is an OVF 1.0 descriptor as vSphere, Workstation and
// VirtualBox import it. The firmware key makes the VM boot through EFI:
// Berth's disk has only an ESP with systemd-boot.
var ovfTemplate = template.Must(template.New("ovf").Parse(`<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData">
  <References>
    <File ovf:href="{{.Disk}}" ovf:id="file1" ovf:size="{{.DiskSize}}"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="{{.Capacity}}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The logical networks</Info>
    <Network ovf:name="VM Network">
      <Description>The network Berth gets its address on (DHCP, or static from user-data)</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="berth">
    <Info>Berth {{.Version}}, a container OS</Info>
    <Name>berth</Name>
    <ProductSection>
      <Info>Product</Info>
      <Product>Berth</Product>
      <Version>{{.Version}}</Version>
    </ProductSection>
    <OperatingSystemSection ovf:id="101" vmw:osType="other5xLinux64Guest">
      <Info>The guest operating system</Info>
      <Description>Other Linux (64-bit)</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>berth</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-14</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of virtual CPUs</rasd:Description>
        <rasd:ElementName>2 virtual CPUs</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>2</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory size</rasd:Description>
        <rasd:ElementName>2048 MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>2048</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI controller</rasd:Description>
        <rasd:ElementName>SCSI controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:Description>VmxNet3 ethernet adapter on "VM Network"</rasd:Description>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`))

// WriteOVA writes the OVA for the stream-optimized VMDK vmdk of a disk of
// capacity bytes: descriptor, manifest, disk, in that order (the OVF
// specification puts the descriptor first), every entry stamped with
// epoch and owned by root, so that the same inputs give the same bytes.
func WriteOVA(path, vmdk string, capacity int64, version string, epoch time.Time) error {
	st, err := os.Stat(vmdk)
	if err != nil {
		return fmt.Errorf("ova: %w", err)
	}
	var ovf bytes.Buffer
	if err := ovfTemplate.Execute(&ovf, map[string]any{
		"Disk": ovaDisk, "DiskSize": st.Size(), "Capacity": capacity, "Version": version,
	}); err != nil {
		return fmt.Errorf("ova: descriptor: %w", err)
	}
	diskSum, err := update.HashFile(vmdk)
	if err != nil {
		return fmt.Errorf("ova: %w", err)
	}
	ovfSum := sha256.Sum256(ovf.Bytes())
	manifest := fmt.Sprintf("SHA256(%s)= %x\nSHA256(%s)= %s\n", ovaOVF, ovfSum, ovaDisk, diskSum.SHA256)

	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("ova: %w", err)
	}
	defer os.Remove(tmp)
	defer f.Close()
	tw := tar.NewWriter(f)
	hdr := func(name string, size int64) *tar.Header {
		return &tar.Header{Name: name, Size: size, Mode: 0o644, ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
	}
	for _, m := range []struct {
		name string
		data []byte
	}{{ovaOVF, ovf.Bytes()}, {ovaManifest, []byte(manifest)}} {
		if err := tw.WriteHeader(hdr(m.name, int64(len(m.data)))); err != nil {
			return fmt.Errorf("ova: %s: %w", m.name, err)
		}
		if _, err := tw.Write(m.data); err != nil {
			return fmt.Errorf("ova: %s: %w", m.name, err)
		}
	}
	if err := tw.WriteHeader(hdr(ovaDisk, st.Size())); err != nil {
		return fmt.Errorf("ova: %s: %w", ovaDisk, err)
	}
	d, err := os.Open(vmdk)
	if err != nil {
		return fmt.Errorf("ova: %w", err)
	}
	defer d.Close()
	if _, err := io.Copy(tw, d); err != nil {
		return fmt.Errorf("ova: copy %s: %w", vmdk, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("ova: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("ova: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("ova: %w", err)
	}
	return os.Rename(tmp, path)
}

// OVADisk copies the VMDK out of an OVA into dir and returns its path.
func OVADisk(ova, dir string) (string, error) {
	f, err := os.Open(ova)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			return "", fmt.Errorf("%s: no %s in it: %w", ova, ovaDisk, err)
		}
		if h.Name != ovaDisk {
			continue
		}
		out := filepath.Join(dir, ovaDisk)
		w, err := os.Create(out)
		if err != nil {
			return "", err
		}
		if _, err := io.Copy(w, tr); err != nil {
			w.Close()
			return "", fmt.Errorf("%s: %s: %w", ova, ovaDisk, err)
		}
		return out, w.Close()
	}
}
