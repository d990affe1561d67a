package tests

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/internal/layout"
	"berth.dev/berth/qemu"
	"berth.dev/berth/qemu/vmtest"
)

// dockerImage is a file of the root that squashfs stores uncompressed
// (it is itself a compressed image), so its bytes can be found on the
// partition and a block of it changed.
const dockerImage = "/usr/lib/berth/images/docker.squashfs"

// 4 KiB of slot A's root changed on the disk, inside one file: reading
// that file is an I/O error and the kernel names dm-verity; the rest of
// the root reads as it should, and the machine still boots.
func TestVerityCorruptBlock(t *testing.T) {
	t.Parallel()
	b := vmtest.FindBuild(t)
	cfg := direct(b, "A")
	cfg.Dir = t.TempDir()
	if err := qemu.Prepare(cfg); err != nil {
		t.Fatal(err)
	}
	off := uniqueOffset(t, filepath.Join(b.Dir, "release", "root.img"), dockerImage, 32<<20)
	junk := filepath.Join(cfg.Dir, "junk")
	buf := make([]byte, 4096)
	rand.Read(buf)
	if err := os.WriteFile(junk, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := qemu.WriteFileAt(qemu.Overlay(cfg.Dir), junk, extent(layout.LabelRootA).Offset()+off, 4096); err != nil {
		t.Fatal(err)
	}

	vm, sh := bootShell(t, cfg)
	waitLine(t, vm, `^berth: root: slot A from ROOT-A \(/dev/vda2\), verified by dm-verity`, time.Second)
	out, code, err := sh.Run("cat /host"+dockerImage+" >/dev/null", 2*time.Minute)
	if err != nil || code == 0 || !strings.Contains(out, "Input/output error") {
		t.Fatalf("reading the changed file: exit %d, %v, want an I/O error:\n%s", code, err, out)
	}
	vm.MustExpect(t, `device-mapper: verity: \d+:\d+: data block \d+ is corrupted`, 30*time.Second)
	st := must(t, sh, "os-ctl status")
	mustMatch(t, st, `(?m)^root:\s+dm-verity, root hash [0-9a-f]{64}: CORRUPTED BLOCKS FOUND$`)
	mustMatch(t, st, `(?m)^problem:\s+root: dm-verity found blocks that do not match the root hash`)
	must(t, sh, "cat /host/usr/lib/berth/images/console.squashfs /host/usr/lib/berth/images/toolbox.squashfs /host/usr/lib/berth/sysd >/dev/null")
}

// uniqueOffset finds where 4 KiB of the root's file path, at fileOff or
// the first whole MiB after it where they are the file's own, lie in the
// root image img. The file's own: once in the file, in no other system
// container image (the images share libraries, whose compressed blocks
// can be the same bytes), and once, uncompressed, in the root image.
func uniqueOffset(t *testing.T, img, path string, fileOff int) int64 {
	t.Helper()
	cat := func(p string) []byte {
		b, err := exec.Command("unsquashfs", "-cat", img, p).Output()
		if err != nil {
			t.Fatalf("unsquashfs -cat %s %s: %v", img, p, err)
		}
		return b
	}
	file := cat(path)
	var others [][]byte
	for _, o := range []string{"console", "toolbox"} {
		others = append(others, cat("/usr/lib/berth/images/"+o+".squashfs"))
	}
	root, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
next:
	for off := fileOff; off+4096 <= len(file); off += 1 << 20 {
		want := file[off : off+4096]
		if bytes.Count(file, want) != 1 {
			continue
		}
		for _, o := range others {
			if bytes.Contains(o, want) {
				continue next
			}
		}
		if i := bytes.Index(root, want); i >= 0 && !bytes.Contains(root[i+1:], want) {
			return int64(i)
		}
	}
	t.Fatalf("no 4 KiB of %s from %d on are its own and stored once, uncompressed, in %s", path, fileOff, img)
	return 0
}
