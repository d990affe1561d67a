// Package stage1 is PID 1 inside the initramfs: it finds and mounts the
// slot's root and the STATE partition, then switches to the root and execs
// stage 2.
package stage1

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"strings"
	"time"

	"berth.dev/berth/internal/console"
	"berth.dev/berth/internal/layout"

	"golang.org/x/sys/unix"

	"berth.dev/berth/init/early"
	"berth.dev/berth/init/shutdown"
	"berth.dev/berth/internal/blockdev"
	"berth.dev/berth/internal/cmdline"
	"berth.dev/berth/internal/kmod"
	"berth.dev/berth/internal/osrelease"
)

// Paths inside the initramfs, as the image builder lays them out.
const (
	newRoot     = "/newroot"
	stateDir    = newRoot + "/state"
	modulesList = "/etc/berth/modules"
	// e2fsprogs live in the root image and run with its own loader and
	// libraries: the initramfs stays small.
	mke2fs = newRoot + "/sbin/mke2fs"
	e2fsck = newRoot + "/sbin/e2fsck"
	stage2 = "/sbin/init"
)

// apiMounts are the kernel file systems stage 1 needs; switch_root moves
// them into the new root.
var apiMounts = []early.Step{
	early.Mount{Source: "devtmpfs", Target: "/dev", FSType: "devtmpfs", Data: "mode=0755", Flags: unix.MS_NOSUID},
	early.Mount{Source: "proc", Target: "/proc", FSType: "proc", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
	early.Mount{Source: "sysfs", Target: "/sys", FSType: "sysfs", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
	early.Mount{Source: "tmpfs", Target: "/run", FSType: "tmpfs", Data: "mode=0755,size=20%", Flags: unix.MS_NOSUID | unix.MS_NODEV},
}

// Main runs stage 1. It does not return: it execs stage 2, or reboots so
// that the boot loader's try counter can fall back to the other slot.
func Main() {
	// /proc (for berth.debug) is not there yet: the first logger is plain.
	l := log.New(os.Stderr, "berth: ", 0)
	// u-root's helpers narrate through the standard logger.
	log.SetOutput(io.Discard)
	defer func() {
		if r := recover(); r != nil {
			fail(l, fmt.Errorf("stage 1 panicked: %v", r))
		}
	}()
	if err := early.Run(apiMounts, func(s string) { l.Print(s) }); err != nil {
		l.Printf("early mounts: %v", err)
	}
	// Berth's lines also go to the screen, where there is one.
	l = console.Logger(console.Mirror(os.Stderr))
	l.Printf("init stage 1 version=%s", osrelease.Version("/etc/os-release"))
	if err := run(l); err != nil {
		fail(l, err)
	}
	select {}
}

func run(l *log.Logger) error {
	raw, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return fmt.Errorf("read kernel command line: %w", err)
	}
	params := cmdline.Parse(string(raw))
	for _, m := range params.UnknownMessages() {
		l.Print(m)
	}
	slot, err := params.Slot()
	if err != nil {
		return err
	}
	drivers := startDrivers(l)
	liveLabel, live := params.Live()
	var rootDev, rootName string
	var parts map[string]string
	if live {
		rootName = "the live medium " + liveLabel
		if rootDev, err = drivers.findLive(liveLabel); err != nil {
			return err
		}
	} else {
		rootName = layout.RootLabel(slot)
		var unclaimed []kmod.Device
		parts, unclaimed = drivers.findPartitions(partitionLabels, rootName, layout.LabelState)
		var ok bool
		if rootDev, ok = parts[rootName]; !ok {
			return fmt.Errorf("slot %s: no partition labelled %s found (have %v); %s", slot, rootName, keys(parts), describeUnclaimed(unclaimed))
		}
	}
	drivers.waitFixed()
	v, err := rootVerity(params)
	if err == nil {
		err = mountRoot(rootDev, v)
	}
	if err != nil {
		if live {
			return fmt.Errorf("slot %s: %s (%s) is missing or unreadable: %w", slot, rootName, rootDev, err)
		}
		err = fmt.Errorf("slot %s: partition %s (%s) is missing or unreadable: %w", slot, rootName, rootDev, err)
		if nerr := noteFailure(parts[layout.LabelState], "stage 1: "+err.Error()); nerr != nil {
			l.Printf("STATE: could not leave a note of this failure for the updater: %v", nerr)
		}
		return err
	}
	// Stage 2 and sysd run next, from this root: read them into the page
	// cache now, beside STATE's mount and the drivers' last loads, rather
	// than fault them in block by block once they run (each block
	// decompressed and hashed on the way). Waited for before the switch:
	// a thread of this process would not outlive the exec.
	prefetched := make(chan struct{})
	go func() {
		defer close(prefetched)
		prefetch(newRoot+stage2, newRoot+layout.SysdPath)
	}()
	if v == nil {
		l.Printf("root: slot %s from %s (%s), NOT verified: its boot entry has no %s (a release made before dm-verity)", slot, rootName, rootDev, layout.VerityParam)
	} else {
		l.Printf("root: slot %s from %s (%s), verified by dm-verity (root hash %s)", slot, rootName, rootDev, v.RootHash)
	}
	stateDev, ok := parts[layout.LabelState]
	switch {
	case live:
		l.Printf("STATE: this is the live system: /etc and /var live in memory; os-ctl install puts Berth on a disk")
	case !ok:
		l.Printf("STATE: no partition labelled STATE: /etc and /var live in memory this boot and are lost at shutdown")
	default:
		if err := mountState(l, stateDev); err != nil {
			l.Printf("STATE: %v: /etc and /var live in memory this boot and are lost at shutdown", err)
			stateDev = ""
		} else {
			l.Printf("STATE: %s mounted", stateDev)
		}
	}
	if err := early.Run(stateSteps(stateDev != ""), func(s string) { l.Print(s) }); err != nil {
		return fmt.Errorf("prepare /etc and /var: %w", err)
	}
	drivers.finish()
	<-prefetched
	if err := switchRoot(newRoot, stage2); err != nil {
		return fmt.Errorf("switch to the root of slot %s: %w", slot, err)
	}
	return errors.New("switch_root returned")
}

func hasAll(m map[string]string, keys []string) bool {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}

// rootVerity reads the root's hash tree from the kernel command line: nil
// when the entry names none. A word that is there but wrong stops the
// boot: the slot's root cannot be checked.
func rootVerity(p cmdline.Params) (*layout.Verity, error) {
	w, ok := p.Get(layout.VerityParam)
	if !ok {
		return nil, nil
	}
	v, err := layout.ParseVerity(w)
	if err != nil {
		return nil, fmt.Errorf("kernel command line: %w", err)
	}
	return &v, nil
}

// mountRoot mounts the slot's root read-only: through dm-verity when v
// is given, so that every block is checked against the signed root hash.
func mountRoot(dev string, v *layout.Verity) error {
	if err := os.MkdirAll(newRoot, 0o755); err != nil {
		return err
	}
	// An empty slot is said as such before verity calls it corrupt.
	if _, err := rootFSType(dev); err != nil {
		return err
	}
	if v != nil {
		mapped, err := openVerity(dev, *v)
		if err != nil {
			return err
		}
		dev = mapped
	}
	// The slot says what it holds: a release may change the format.
	fstype, err := rootFSType(dev)
	if err != nil {
		if v != nil {
			return fmt.Errorf("%w (the root does not match the root hash of its boot entry)", err)
		}
		return err
	}
	if err := unix.Mount(dev, newRoot, fstype, unix.MS_RDONLY|unix.MS_NODEV, ""); err != nil {
		if v != nil && errors.Is(err, unix.EIO) {
			return fmt.Errorf("mount %s root %s: %w (a block does not match the root hash of its boot entry)", fstype, dev, err)
		}
		return fmt.Errorf("mount %s root %s: %w", fstype, dev, err)
	}
	return nil
}

// rootFSType reads the file system type from dev's first bytes.
func rootFSType(dev string) (string, error) {
	head := make([]byte, 1028)
	f, err := os.Open(dev)
	if err != nil {
		return "", fmt.Errorf("open root %s: %w", dev, err)
	}
	_, err = io.ReadFull(f, head)
	f.Close()
	if err != nil {
		return "", fmt.Errorf("read root %s: %w", dev, err)
	}
	fstype := blockdev.FSType(head)
	if fstype == "" {
		return "", fmt.Errorf("root %s holds neither squashfs nor EROFS (an empty or damaged slot)", dev)
	}
	return fstype, nil
}

// mountState mounts STATE at /newroot/state, creating the file system
// only if the partition is blank where a superblock would be (first boot,
// or a wiped partition). A damaged superblock is rebuilt from a backup;
// failing that, STATE is left alone: one bad sector must not cost every
// persistent file.
func mountState(l *log.Logger, dev string) error {
	kind, clean, err := blockdev.DeviceExt4(dev)
	if err != nil {
		return err
	}
	switch {
	case kind == blockdev.Ext4Blank:
		l.Printf("STATE: %s has no file system: creating ext4 (first boot, or the partition was wiped)", dev)
		if out, err := rootCommand(mke2fs, layout.StateMkfsArgs(dev)...).CombinedOutput(); err != nil {
			return fmt.Errorf("mke2fs %s: %w: %s", dev, err, strings.TrimSpace(string(out)))
		}
	case kind == blockdev.Ext4Damaged:
		l.Printf("STATE: %s has a damaged ext4 superblock: repairing it from a backup copy", dev)
		if err := repairSuperblock(func(args ...string) *exec.Cmd { return rootCommand(e2fsck, args...) }, dev); err != nil {
			return fmt.Errorf("%w; STATE was not formatted, to keep what it holds: repair it by hand "+
				"(e2fsck -b), or wipe its first MiB to start afresh", err)
		}
		l.Printf("STATE: %s repaired from a backup superblock", dev)
	case !clean:
		// Not unmounted cleanly (a power cut) or errors recorded: repair
		// before mounting. A clean one needs nothing, and e2fsck costs a
		// process start.
		checkState(l, dev)
	}
	if err := unix.Mount(dev, stateDir, "ext4", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOATIME, ""); err != nil {
		return fmt.Errorf("mount %s on %s: %w", dev, stateDir, err)
	}
	return nil
}

// checkState runs e2fsck -p, which repairs what a power cut can leave
// behind.
func checkState(l *log.Logger, dev string) {
	l.Printf("STATE: %s was not unmounted cleanly: checking it", dev)
	out, err := rootCommand(e2fsck, "-p", dev).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() < 4:
		l.Printf("STATE: e2fsck repaired %s: %s", dev, strings.TrimSpace(string(out)))
	default:
		l.Printf("STATE: e2fsck %s: %v: %s", dev, err, strings.TrimSpace(string(out)))
	}
}

// backupSuperblocks are where mke2fs puts the first backup copy, by block
// size: the first block of group 1.
var backupSuperblocks = []struct{ block, size string }{{"32768", "4096"}, {"8193", "1024"}, {"16384", "2048"}}

// repairSuperblock lets e2fsck rebuild dev's primary superblock from the
// first backup that it accepts, and checks that an ext4 superblock is
// there afterwards. e2fsck runs as e2fsck(args...).
func repairSuperblock(e2fsck func(args ...string) *exec.Cmd, dev string) error {
	var tried []string
	for _, b := range backupSuperblocks {
		out, err := e2fsck("-p", "-b", b.block, "-B", b.size, dev).CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() < 4) {
			tried = append(tried, fmt.Sprintf("-b %s: %v: %s", b.block, err, strings.TrimSpace(string(out))))
			continue
		}
		if kind, _, err := blockdev.DeviceExt4(dev); err == nil && kind == blockdev.Ext4Present {
			return nil
		}
		tried = append(tried, fmt.Sprintf("-b %s: e2fsck ended but no superblock is there", b.block))
	}
	return fmt.Errorf("repair %s from a backup superblock: %s", dev, strings.Join(tried, "; "))
}

// rootCommand runs a dynamically linked program of the mounted root with
// the root's loader and libraries, before switching to it.
func rootCommand(prog string, args ...string) *exec.Cmd {
	// Not /lib64/ld-linux-x86-64.so.2: that is an absolute link, which
	// would resolve in the initramfs.
	cmd := exec.Command(newRoot+"/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
		append([]string{"--library-path", newRoot + "/lib/x86_64-linux-gnu:" + newRoot + "/usr/lib/x86_64-linux-gnu", prog}, args...)...)
	cmd.Env = []string{"MKE2FS_CONFIG=" + newRoot + "/etc/mke2fs.conf", "E2FSCK_CONFIG=/dev/null"}
	return cmd
}

// stateSteps lays out /etc (an overlay: image defaults below, STATE above)
// and /var (STATE) in the new root; without STATE both are tmpfs-backed.
func stateSteps(haveState bool) []early.Step {
	base := stateDir
	var steps []early.Step
	if !haveState {
		steps = append(steps, early.Mount{Source: "tmpfs", Target: stateDir, FSType: "tmpfs", Data: "mode=0755"})
	}
	return append(steps,
		early.Dir{Path: base + "/etc/upper", Mode: 0o755},
		early.Dir{Path: base + "/etc/work", Mode: 0o700},
		early.Dir{Path: base + "/var", Mode: 0o755},
		// FHS: /var/run is /run (Docker's clients look for
		// /var/run/docker.sock).
		early.Optional{Step: early.Symlink{Target: "../run", Link: base + "/var/run"}},
		early.Dir{Path: base + "/home", Mode: 0o755},
		early.Dir{Path: base + "/root", Mode: 0o700},
		early.Mount{Source: "overlay", Target: newRoot + "/etc", FSType: "overlay",
			Data: fmt.Sprintf("lowerdir=%s/etc,upperdir=%s/etc/upper,workdir=%s/etc/work", newRoot, base, base)},
		early.Mount{Source: base + "/var", Target: newRoot + "/var", FSType: "none", Flags: unix.MS_BIND},
		// Users' homes (from user-data) and root's persist too.
		early.Mount{Source: base + "/home", Target: newRoot + "/home", FSType: "none", Flags: unix.MS_BIND},
		early.Mount{Source: base + "/root", Target: newRoot + "/root", FSType: "none", Flags: unix.MS_BIND},
	)
}

// fail reports err, gives the reader a moment, and reboots: with boot
// counting the boot loader then tries the other slot.
func fail(l *log.Logger, err error) {
	l.Printf("boot failed: %v", err)
	l.Printf("rebooting in 5s")
	time.Sleep(5 * time.Second)
	shutdown.Final(shutdown.Reboot, l.Printf)
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// prefetch reads the files whole and forgets the bytes: what stays is the
// page cache, which the root's file system fills as it decompresses and
// dm-verity checks each block. Errors do not matter: exec says them.
func prefetch(paths ...string) {
	buf := make([]byte, 1<<20)
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		for {
			if _, err := f.Read(buf); err != nil {
				break
			}
		}
		f.Close()
	}
}
