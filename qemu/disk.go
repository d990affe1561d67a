package qemu

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// The helpers below change or read a VM's overlay while it is not running,
// with QEMU's own tools: no loop device, no mount.

func qemuIO(overlay string, cmds ...string) error {
	args := []string{"-f", "qcow2"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := exec.Command("qemu-io", append(args, overlay)...).CombinedOutput()
	if err != nil || strings.Contains(string(out), "error") || strings.Contains(string(out), "failed") {
		return fmt.Errorf("qemu-io %s %s: %v: %s", strings.Join(cmds, "; "), overlay, err, out)
	}
	return nil
}

// ZeroRange writes zeroes over size bytes at off: a wiped partition.
// qemu-io takes at most 2 GiB - 512 bytes per write, so it goes in chunks.
func ZeroRange(overlay string, off, size int64) error {
	const chunk = 1 << 30
	var cmds []string
	for size > 0 {
		n := min(size, chunk)
		cmds = append(cmds, fmt.Sprintf("write -z %d %d", off, n))
		off, size = off+n, size-n
	}
	return qemuIO(overlay, cmds...)
}

// WriteFileAt writes the host file src (size bytes) at off.
func WriteFileAt(overlay, src string, off, size int64) error {
	return qemuIO(overlay, fmt.Sprintf("write -s %s %d %d", src, off, size))
}

// ExportRange copies size bytes at off of the overlay into a raw file, for
// host tools such as e2fsck.
func ExportRange(overlay string, off, size int64, out string) error {
	opts := fmt.Sprintf("driver=raw,offset=%d,size=%d,file.driver=qcow2,file.file.filename=%s", off, size, overlay)
	if b, err := exec.Command("qemu-img", "convert", "-O", "raw", "--image-opts", opts, out).CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img convert %s: %w: %s", opts, err, b)
	}
	return nil
}

// Resize grows the overlay's virtual disk to size bytes (qemu-img resize):
// a disk bigger than the image, or one grown later.
func Resize(overlay string, size int64) error {
	if out, err := exec.Command("qemu-img", "resize", "-q", "-f", "qcow2", overlay, strconv.FormatInt(size, 10)).CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img resize %s: %w: %s", overlay, err, out)
	}
	return nil
}
