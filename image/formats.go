package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"
)

// Format is a disk image format a hypervisor imports directly.
type Format struct {
	Name string // berth.NAME
	// qemu-img's output format and options.
	QemuFormat string
	Options    []string
	// fix makes the file reproducible: qemu-img writes a random ID and
	// the time into some formats.
	fix func(path string, seed []byte, epoch time.Time) error
}

// Formats are the images `make images` writes beside disk.img.
var Formats = []Format{
	// KVM, Proxmox, OpenStack: compressed clusters.
	{Name: "qcow2", QemuFormat: "qcow2", Options: []string{"-c"}},
	// VMware: the stream-optimized VMDK that OVAs and ESXi imports take.
	{Name: "vmdk", QemuFormat: "vmdk", Options: []string{"-o", "subformat=streamOptimized"}, fix: fixVMDK},
	// Azure and Hyper-V: a fixed VHD, a whole number of MiB (the disk is).
	{Name: "vhd", QemuFormat: "vpc", Options: []string{"-o", "subformat=fixed,force_size=on"}, fix: fixVHD},
}

// ConvertDisk writes disk (raw) as each format into dir, as berth.NAME.
// seed (what names the release) and epoch stand in for the random IDs
// and the time, so that the same build gives the same bytes.
func ConvertDisk(disk, dir string, seed []byte, epoch time.Time) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var out []string
	for _, f := range Formats {
		path := filepath.Join(dir, "berth."+f.Name)
		_ = os.Remove(path)
		args := append(append([]string{"convert", "-f", "raw", "-O", f.QemuFormat}, f.Options...), disk, path)
		if b, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s image: qemu-img %v: %w: %s", f.Name, args, err, b)
		}
		if f.fix != nil {
			if err := f.fix(path, append([]byte(f.Name+"\x00"), seed...), epoch); err != nil {
				return nil, fmt.Errorf("%s image: %w", f.Name, err)
			}
		}
		out = append(out, path)
	}
	return out, nil
}

// vhdEpoch is where VHD time stamps count from: 2000-01-01 00:00 UTC.
var vhdEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// qemu-img prints the CID without leading zeros: one in sixteen has
// fewer than 8 digits.
var vmdkCID = regexp.MustCompile(`\nCID=([0-9a-f]{1,8})\n`)

// fixVMDK replaces the descriptor's random content ID with 8 hex digits
// from seed, in place: the descriptor's text after it moves into the
// zero padding that ends the descriptor's sectors, so every conversion
// has the same length and bytes.
func fixVMDK(path string, seed []byte, _ time.Time) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, _ := f.ReadAt(head, 0)
	head = head[:n]
	loc := vmdkCID.FindSubmatchIndex(head)
	if loc == nil {
		return fmt.Errorf("%s: no CID in the descriptor", path)
	}
	end := bytes.IndexByte(head[loc[3]:], 0)
	if end < 0 {
		return fmt.Errorf("%s: the descriptor has no zero padding", path)
	}
	end += loc[3]
	sum := sha256.Sum256(seed)
	text := append([]byte(fmt.Sprintf("%08x", sum[:4])), head[loc[3]:end]...)
	if loc[2]+len(text) > len(head) || bytes.IndexFunc(head[end:loc[2]+len(text)], func(r rune) bool { return r != 0 }) >= 0 {
		return fmt.Errorf("%s: no room in the descriptor for an 8-digit CID", path)
	}
	if _, err := f.WriteAt(text, int64(loc[2])); err != nil {
		return err
	}
	return f.Sync()
}

// fixVHD sets the footer's time stamp (seconds since 2000) to epoch and
// its UUID to one from seed, then its checksum (the ones' complement of
// the byte sum of the footer without it).
func fixVHD(path string, seed []byte, epoch time.Time) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	footer := make([]byte, 512)
	off := st.Size() - 512
	if _, err := f.ReadAt(footer, off); err != nil {
		return err
	}
	if !bytes.HasPrefix(footer, []byte("conectix")) {
		return fmt.Errorf("%s: no VHD footer at its end", path)
	}
	binary.BigEndian.PutUint32(footer[24:], uint32(epoch.Unix()-vhdEpoch.Unix()))
	sum := sha256.Sum256(seed)
	id := sum[:16]
	id[6] = id[6]&0x0f | 0x40 // a version 4 UUID, as qemu-img makes
	id[8] = id[8]&0x3f | 0x80
	copy(footer[68:84], id)
	binary.BigEndian.PutUint32(footer[64:], 0)
	var c uint32
	for _, b := range footer {
		c += uint32(b)
	}
	binary.BigEndian.PutUint32(footer[64:], ^c)
	if _, err := f.WriteAt(footer, off); err != nil {
		return err
	}
	return f.Sync()
}

// Images converts the build directory out's disk.img into every format,
// into out/images, stamped with its release.
func Images(out string, logf func(string, ...any)) error {
	r, err := ReadRelease(filepath.Join(out, "release", "release.json"))
	if err != nil {
		return fmt.Errorf("images: %w (run make image first)", err)
	}
	// The release's version and its root's hash name this disk.
	seed := []byte(r.Version + "\x00" + r.Parts["root.img"].SHA256)
	disk, dir, epoch := filepath.Join(out, "disk.img"), filepath.Join(out, "images"), time.Unix(r.SourceDateEpoch, 0)
	paths, err := ConvertDisk(disk, dir, seed, epoch)
	if err == nil {
		err = writeOVA(disk, dir, r.Version, epoch)
		paths = append(paths, filepath.Join(dir, "berth.ova"))
	}
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil {
			logf("%s: %.1f MiB", p, float64(st.Size())/(1<<20))
		}
	}
	return err
}

// writeOVA packs dir's berth.vmdk, made from disk, into dir/berth.ova.
func writeOVA(disk, dir, version string, epoch time.Time) error {
	st, err := os.Stat(disk)
	if err != nil {
		return fmt.Errorf("ova: %w", err)
	}
	return WriteOVA(filepath.Join(dir, "berth.ova"), filepath.Join(dir, "berth.vmdk"), st.Size(), version, epoch)
}
