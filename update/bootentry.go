package update

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"

	"berth.dev/berth/internal/layout"
)

// LoaderConf is loader/loader.conf: no menu delay; keys still open it. It
// names no default: systemd-boot then boots the first entry in its order
// (see Order), which is how the updater chooses a slot.
const LoaderConf = "timeout 0\neditor no\nconsole-mode keep\n"

// BootEntry renders a Boot Loader Specification type 1 entry for a slot.
// Its "version" is the entry's generation, not the release: systemd-boot
// puts the highest version first among entries with tries left, so the
// updater prefers a slot by giving it a newer generation, and never has
// to touch the other slot's entry to do so. The release is in the title
// and in a comment the updater reads back.
//
// args are the release's kernel arguments and v its root's hash tree:
// stage 1 checks every block it reads against it.
func BootEntry(slot, release string, generation int, args []string, v *layout.Verity) string {
	return fmt.Sprintf(`# berth-release %[2]s
title   Berth %[2]s (slot %[1]s)
sort-key berth
version %[3]d
linux   %[4]s/vmlinuz
initrd  %[4]s/initrd.img
options %[5]s
`, slot, release, generation, layout.ESPDir(slot), layout.Cmdline(slot, args, v))
}

// LiveEntry renders the installer medium's one entry: the release, its
// kernel and initramfs under layout.LiveESPDir, and the live command line
// (the root from the medium, STATE in memory).
func LiveEntry(release string, args []string, v *layout.Verity) string {
	return fmt.Sprintf(`# berth-release %[1]s
title   Berth %[1]s (live system and installer)
sort-key berth
linux   %[2]s/vmlinuz
initrd  %[2]s/initrd.img
options %[3]s
`, release, layout.LiveESPDir, layout.LiveCmdline(args, v))
}

// EntryInfo is what the updater reads back from an entry's content.
type EntryInfo struct {
	Release    string
	Generation int
	// Verity is the berth.verity word of its options (nil: none).
	Verity *layout.Verity
	// Args are the other words of its options, but the slot's: the
	// kernel arguments of the release it boots.
	Args []string
}

// ParseBootEntry reads an entry written by BootEntry; file names the
// entry in errors.
func ParseBootEntry(file, content string) (EntryInfo, error) {
	var e EntryInfo
	gen := false
	s := bufio.NewScanner(strings.NewReader(content))
	for n := 1; s.Scan(); n++ {
		f := strings.Fields(s.Text())
		switch {
		case len(f) == 3 && f[0] == "#" && f[1] == "berth-release":
			e.Release = f[2]
		case len(f) == 2 && f[0] == "version":
			g, err := strconv.Atoi(f[1])
			if err != nil {
				return e, fmt.Errorf("%s:%d: version: %q is not a generation number", file, n, f[1])
			}
			e.Generation, gen = g, true
		case len(f) > 0 && f[0] == "options":
			for _, w := range f[1:] {
				k, val, _ := strings.Cut(w, "=")
				switch k {
				case layout.SlotParam:
					continue
				case layout.VerityParam:
				default:
					e.Args = append(e.Args, w)
					continue
				}
				v, err := layout.ParseVerity(val)
				if err != nil {
					return e, fmt.Errorf("%s:%d: options: %w", file, n, err)
				}
				e.Verity = &v
			}
		}
	}
	if !gen {
		return e, fmt.Errorf("%s: version: missing (every Berth entry has a generation)", file)
	}
	return e, nil
}
