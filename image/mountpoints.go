package image

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"berth.dev/berth/sysd/unit"
)

// runtimeDirs are file systems the runtime mounts fresh in every
// container: a Volume= below them needs no mount point in the image.
var runtimeDirs = []string{"/run", "/tmp", "/dev", "/proc", "/sys"}

// mountPoints adds to image NAME's tree the mount point of every Volume=
// of the units in rootfs/services that run it: the image is read-only, so
// the runtime cannot make them. A source that is a file in the root image
// (a binary bound in) gets an empty file, anything else a directory. The
// units are parsed with sysd's own parser, so a broken unit in the image
// fails the build instead of a boot.
func mountPoints(c Config, name string, img, root Tree) error {
	files, _ := filepath.Glob(filepath.Join(c.Rootfs, "services", "*.service"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		u, ds := unit.Parse(f, raw)
		if errs := ds.Errors(); len(errs) > 0 {
			return errors.New(errs[0].String())
		}
		if u.Container.Image != name {
			continue
		}
	volumes:
		for _, v := range u.Container.Volumes {
			dst := clean(v.Dst)
			for _, d := range runtimeDirs {
				if dst == d || strings.HasPrefix(dst, d+"/") {
					continue volumes
				}
			}
			if _, ok := img[dst]; ok {
				continue
			}
			if e, ok := root[clean(v.Src)]; ok && e.Kind == File {
				img.File(dst, 0o644, nil)
			} else {
				img.Mkdir(0o755, dst)
			}
		}
	}
	return nil
}
