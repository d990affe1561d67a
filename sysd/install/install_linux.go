package install

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/u-root/u-root/pkg/mount/gpt"
	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/atomicfile"
	"berth.dev/berth/internal/layout"
	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/storage"
	"berth.dev/berth/sysd/userdata"
	"berth.dev/berth/update"
)

// Installer installs from the live medium.
type Installer struct {
	Machine
	Source string // layout.LiveMount/layout.LiveDir
	Mke2fs string // /sbin/mke2fs
	// Scratch is where STATE is mounted to leave the user-data on it.
	Scratch string
	mu      sync.Mutex
}

// Live returns the installer of the running live system.
func Live() *Installer {
	return &Installer{
		Machine: Machine{SysBlock: "/sys/class/block", Mounts: "/proc/self/mountinfo", Swaps: "/proc/swaps", Head: readHead},
		Source:  filepath.Join(layout.LiveMount, layout.LiveDir),
		Mke2fs:  "/sbin/mke2fs",
		Scratch: "/run/berth/install-state",
	}
}

func readHead(dev string) ([]byte, error) {
	f, err := os.Open(dev)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, 64<<10)
	n, err := io.ReadFull(f, b)
	if err == io.ErrUnexpectedEOF {
		err = nil
	}
	return b[:n], err
}

// source is what the medium gives the install, checked before a byte of
// the disk is written.
type source struct {
	rel  update.Release
	head []byte
	gpt  *gpt.GPT
}

func (in *Installer) source() (source, error) {
	var s source
	if _, err := os.Stat(in.Source); err != nil {
		return s, errors.New("install runs on the installer medium's live system (make iso; docs/install.md): this machine did not boot from one")
	}
	rel, err := update.ReadRelease(filepath.Join(in.Source, "release.json"))
	if err != nil {
		return s, fmt.Errorf("the live medium: %w", err)
	}
	s.rel = rel
	root, ok := rel.Parts["root.img"]
	if !ok {
		return s, errors.New("the live medium: release.json names no root.img")
	}
	if st, err := os.Stat(filepath.Join(in.Source, "root.img")); err != nil || st.Size() != root.Size {
		return s, fmt.Errorf("the live medium: root.img is not the %d bytes release.json says (%v)", root.Size, err)
	}
	if s.head, err = os.ReadFile(filepath.Join(in.Source, layout.LiveDiskHead)); err != nil {
		return s, fmt.Errorf("the live medium: %w", err)
	}
	if s.gpt, err = gpt.Table(bytes.NewReader(s.head), gpt.HeaderOff); err != nil {
		return s, fmt.Errorf("the live medium: %s: %w", layout.LiveDiskHead, err)
	}
	if len(s.gpt.Parts) < len(layout.Layout) {
		return s, fmt.Errorf("the live medium: %s has %d partitions, the layout %d", layout.LiveDiskHead, len(s.gpt.Parts), len(layout.Layout))
	}
	if _, err := os.Stat(filepath.Join(in.Source, layout.LiveESP)); err != nil {
		return s, fmt.Errorf("the live medium: %w", err)
	}
	return s, nil
}

// Install puts the live medium's release on opt.Disk; report sees each
// step and the bytes of the long ones. Nothing is written before the
// medium and the disk have passed every check; a failure after that says
// which steps were done.
func (in *Installer) Install(ctx context.Context, opt wire.InstallRequest, report func(update.Progress)) (wire.InstallResult, error) {
	if !in.mu.TryLock() {
		return wire.InstallResult{}, ErrBusy
	}
	defer in.mu.Unlock()
	start := time.Now()
	src, err := in.source()
	if err != nil {
		return wire.InstallResult{}, err
	}
	if opt.Disk == "" {
		return wire.InstallResult{}, errors.New("name the disk to install to (/dev/sda), or largest")
	}
	d, passed, err := in.Choose(opt.Disk, opt.Force)
	if err == nil {
		// Why a bigger disk was passed over is the first thing to ask.
		for _, e := range passed {
			report(update.Progress{Stage: "disk", Msg: "passed over: " + e.Error()})
		}
	}
	if err != nil {
		return wire.InstallResult{}, err
	}
	r := wire.InstallResult{Disk: d.Dev(), Size: d.Size, Version: src.rel.Version}
	report(update.Progress{Stage: "disk", Msg: fmt.Sprintf("installing Berth %s on %s", r.Version, d)})
	if err := in.write(ctx, src, d, opt, &r, report); err != nil {
		done := "nothing was written"
		if len(r.Wrote) > 0 {
			done = "written: " + strings.Join(r.Wrote, ", ") + "; the disk does not boot Berth until an install ends"
		}
		return r, fmt.Errorf("install on %s: %w (%s)", d.Dev(), err, done)
	}
	r.Seconds = time.Since(start).Seconds()
	report(update.Progress{Stage: "done", Msg: fmt.Sprintf("Berth %s installed on %s in %.1fs", r.Version, d.Dev(), r.Seconds)})
	return r, nil
}

func (in *Installer) write(ctx context.Context, src source, d Disk, opt wire.InstallRequest, r *wire.InstallResult, report func(update.Progress)) error {
	parts, err := in.table(src, d, r, report)
	if err != nil {
		return err
	}

	report(update.Progress{Stage: "esp", Msg: "ESP: systemd-boot, slot A's kernel and initramfs"})
	if err := writeGzip(ctx, parts[layout.LabelESP], filepath.Join(in.Source, layout.LiveESP), func(done, total int64) {
		report(update.Progress{Stage: "esp", Msg: parts[layout.LabelESP], Done: done, Total: total})
	}); err != nil {
		return fmt.Errorf("ESP: %w", err)
	}
	r.Wrote = append(r.Wrote, "ESP")

	root := src.rel.Parts["root.img"]
	if err := update.WriteSlot(ctx, parts[layout.LabelRootA], filepath.Join(in.Source, "root.img"),
		update.Target{Length: root.Size, SHA256: root.SHA256}, func(stage string, done, total int64) {
			report(update.Progress{Stage: stage, Msg: "slot A " + parts[layout.LabelRootA], Done: done, Total: total})
		}); err != nil {
		return fmt.Errorf("slot A: %w", err)
	}
	r.Wrote = append(r.Wrote, "slot A")

	// Slot B stays empty until the first update; what the disk held
	// before must not look like a root.
	if err := zeroHead(parts[layout.LabelRootB]); err != nil {
		return fmt.Errorf("slot B: %w", err)
	}
	r.Wrote = append(r.Wrote, "slot B cleared")

	report(update.Progress{Stage: "state", Msg: fmt.Sprintf("STATE %s: ext4 over the rest of the disk", parts[layout.LabelState])})
	if err := in.state(parts[layout.LabelState], opt.UserData); err != nil {
		return fmt.Errorf("STATE: %w", err)
	}
	r.Wrote = append(r.Wrote, "STATE")
	if len(opt.UserData) > 0 {
		r.Wrote = append(r.Wrote, "user-data")
	}
	return nil
}

// table writes the partition table: the image's, grown so that STATE
// ends at the disk's end with the backup table there, as if the image had
// been written whole and STATE grown at its first boot. It returns the
// partitions' devices. The disk is open exclusively meanwhile (O_EXCL on
// a block device: the kernel refuses it while anything has the disk or a
// partition mounted or held); the steps after it open the partitions,
// which mke2fs too wants exclusively.
func (in *Installer) table(src source, d Disk, r *wire.InstallResult, report func(update.Progress)) (map[string]string, error) {
	f, err := os.OpenFile(d.Dev(), os.O_RDWR|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open for writing: %w", err)
	}
	defer f.Close()
	if ss, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET); err != nil || ss != gpt.BlockSize {
		return nil, fmt.Errorf("the disk has %d-byte sectors (%v): only 512 is handled", ss, err)
	}
	report(update.Progress{Stage: "table", Msg: "GPT: " + layoutNames()})
	prim, back, _, err := storage.Plan(src.gpt, len(layout.Layout)-1, uint64(d.Size)/gpt.BlockSize)
	if err != nil {
		return nil, fmt.Errorf("partition table: %w", err)
	}
	if _, err := f.WriteAt(src.head, 0); err != nil {
		return nil, fmt.Errorf("partition table: %w", err)
	}
	r.Wrote = append(r.Wrote, "partition table")
	if err := storage.WriteTable(f, back); err != nil {
		return nil, fmt.Errorf("backup partition table: %w", err)
	}
	if err := storage.WriteTable(f, prim); err != nil {
		return nil, fmt.Errorf("partition table: %w", err)
	}
	return in.reread(f, d)
}

func layoutNames() string {
	var n []string
	for _, p := range layout.Layout {
		n = append(n, p.Label)
	}
	return strings.Join(n, ", ")
}

// reread has the kernel read the new table and waits for its partitions'
// device nodes.
func (in *Installer) reread(f *os.File, d Disk) (map[string]string, error) {
	if err := unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0); err != nil {
		return nil, fmt.Errorf("have the kernel read the new partition table: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := map[string]string{}
		for _, p := range in.partitions(d.Name) {
			got[p.Label] = "/dev/" + p.Name
		}
		missing := ""
		for _, p := range layout.Layout {
			if _, err := os.Stat(got[p.Label]); got[p.Label] == "" || err != nil {
				missing = p.Label
			}
		}
		if missing == "" {
			return got, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the kernel shows no partition %s on %s after reading the new table", missing, d.Dev())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeGzip writes the decompressed file src onto dev and syncs it.
func writeGzip(ctx context.Context, dev, src string, progress func(done, total int64)) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	z, err := gzip.NewReader(in)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	out, err := os.OpenFile(dev, os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer out.Close()
	total, err := out.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	var done int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := io.ReadFull(z, buf)
		if n > 0 {
			if done+int64(n) > total {
				return fmt.Errorf("%s is larger than %s (%d bytes)", src, dev, total)
			}
			if _, err := out.Write(buf[:n]); err != nil {
				return err
			}
			done += int64(n)
			progress(done, total)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break // the gzip trailer's CRC was checked
		}
		if rerr != nil {
			return fmt.Errorf("%s: %w", src, rerr)
		}
	}
	return out.Sync()
}

// zeroHead clears a partition's first MiB.
func zeroHead(dev string) error {
	f, err := os.OpenFile(dev, os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, layout.MiB)); err != nil {
		return err
	}
	return f.Sync()
}

// state formats STATE as stage 1 would at a first boot, and leaves the
// user-data at layout.InstalledUserData in it.
func (in *Installer) state(dev string, userData []byte) error {
	if err := zeroHead(dev); err != nil {
		return err
	}
	if out, err := exec.Command(in.Mke2fs, layout.StateMkfsArgs(dev)...).CombinedOutput(); err != nil {
		return fmt.Errorf("mke2fs: %w: %s", err, strings.TrimSpace(string(out)))
	}
	if len(userData) == 0 {
		return nil
	}
	if err := os.MkdirAll(in.Scratch, 0o700); err != nil {
		return err
	}
	if err := unix.Mount(dev, in.Scratch, "ext4", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount %s: %w", dev, err)
	}
	// /var/lib/berth as a booted system makes it; only the last
	// directory is root's alone.
	path := filepath.Join(in.Scratch, layout.InstalledUserData)
	err := os.MkdirAll(filepath.Dir(filepath.Dir(path)), 0o755)
	if err == nil {
		err = os.Mkdir(filepath.Dir(path), 0o700)
	}
	if err == nil {
		err = atomicfile.Write(path, userData, 0o600)
	}
	if uerr := unix.Unmount(in.Scratch, 0); err == nil && uerr != nil {
		err = fmt.Errorf("unmount %s: %w", dev, uerr)
	}
	return err
}

// Unattended runs berth.install from user-data: progress on the console,
// then the reboot it asks for. The whole user-data goes onto the disk.
// A refusal leaves every disk as it was and the live system running.
func (in *Installer) Unattended(ctx context.Context, logf func(string, ...any), req wire.InstallRequest, reboot func() error) {
	logf("install: berth.install: disk %s, reboot %v, force %v", req.Disk, req.Reboot, req.Force)
	last := ""
	res, err := in.Install(ctx, req, func(p update.Progress) {
		line := p.Stage + ": " + p.Msg
		if p.Total > 0 {
			// A line at every quarter: the console is slow.
			q := p.Done * 4 / p.Total
			line = fmt.Sprintf("%s %s: %d%%", p.Stage, p.Msg, q*25)
		}
		if line != last {
			last = line
			logf("install: %s", line)
		}
	})
	if err != nil {
		logf("install: %v", err)
		return
	}
	if !req.Reboot {
		logf("install: done; the machine boots Berth from %s once the medium is out or the disk comes first", res.Disk)
		return
	}
	logf("install: rebooting into the installed system")
	if err := reboot(); err != nil {
		logf("install: reboot: %v", err)
	}
}

// FromUserData starts berth.install, when the user-data has it, on the
// live system (in is nil elsewhere: an installed machine keeps the key in
// the user-data it was installed with, and does nothing with it). raw is
// the user-data as given, which goes onto the disk.
func FromUserData(in *Installer, logf func(string, ...any), spec *userdata.Install, raw []byte, reboot func() error) {
	switch {
	case spec == nil:
	case in == nil:
		logf("install: berth.install is for the installer medium's live system; this machine runs from its disk: nothing to do")
	default:
		req := wire.InstallRequest{Disk: spec.Disk, Force: spec.Force, Reboot: spec.Reboot, UserData: raw}
		go in.Unattended(context.Background(), logf, req, reboot)
	}
}
