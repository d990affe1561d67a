package qemu

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// NoCloudSeed writes a vfat image labelled CIDATA holding user-data and
// meta-data, as `cloud-localds -f vfat` makes, and returns its path.
func NoCloudSeed(dir, userData, metaData string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	img := filepath.Join(dir, "seed.img")
	os.Remove(img)
	if out, err := exec.Command("mkfs.vfat", "-n", "CIDATA", "-C", img, "2048").CombinedOutput(); err != nil {
		return "", fmt.Errorf("mkfs.vfat: %v: %s", err, out)
	}
	for name, content := range map[string]string{"user-data": userData, "meta-data": metaData} {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			return "", err
		}
		if out, err := exec.Command("mcopy", "-o", "-i", img, f, "::"+name).CombinedOutput(); err != nil {
			return "", fmt.Errorf("mcopy %s: %v: %s", name, err, out)
		}
	}
	return img, nil
}

// SeedDrive is the QEMU arguments that attach a seed image as a virtio disk.
func SeedDrive(img string) []string {
	return []string{"-drive", "if=none,id=seed,format=raw,readonly=on,file=" + img, "-device", "virtio-blk-pci,drive=seed"}
}
