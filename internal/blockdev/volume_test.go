package blockdev

import "testing"

func TestVolumeType(t *testing.T) {
	fat := make([]byte, 512)
	fat[510], fat[511] = 0x55, 0xAA
	copy(fat[0x52:], "FAT32   ")
	copy(fat[0x47:], "cidata     ")
	if VolumeType(fat, "CIDATA") != "vfat" {
		t.Error("FAT32 label not found")
	}
	iso := make([]byte, 0x8800)
	copy(iso[0x8001:], "CD001")
	copy(iso[0x8028:], "CIDATA                          ")
	if VolumeType(iso, "CIDATA") != "iso9660" {
		t.Error("ISO9660 label not found")
	}
	if VolumeType(iso, "BERTH_LIVE") != "" {
		t.Error("another label matched")
	}
	if VolumeType(make([]byte, 0x8800), "CIDATA") != "" {
		t.Error("zeros recognised")
	}
}
