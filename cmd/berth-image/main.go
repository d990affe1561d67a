// Command berth-image builds Berth's disk image and release parts
// (`build`), converts the disk for hypervisors (`images`), makes the
// installer ISO (`iso`), or refreshes rootfs/packages.lock (`lock`).
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"strconv"
	"time"

	"berth.dev/berth/image"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: berth-image build|images|iso|lock [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	rootfs := fs.String("rootfs", "rootfs", "the rootfs/ directory")
	var c image.Config
	fs.StringVar(&c.Version, "version", "0.0.0-dev", "version stamped into the image")
	fs.StringVar(&c.Bin, "bin", "build/bin", "directory with berth-init and sysd")
	fs.StringVar(&c.Out, "out", "build", "output directory")
	fs.StringVar(&c.Cache, "cache", "build/cache", "downloaded packages")
	fs.StringVar(&c.Apt, "apt", "build/apt", "the builder's apt lists and configuration")
	fs.StringVar(&c.TrustedRoot, "trust", "", "the release repository's root.json the image trusts (berth-release init makes it)")
	fs.StringVar(&c.Overlay, "overlay", "", "a directory laid over the root file system (extra units, files)")
	fs.BoolVar(&c.NoDisk, "no-disk", false, "write the release only, not disk.img")
	fs.Func("kernel-arg", "build: a kernel command line word every boot of the release gets, after Berth's own (repeat it for more)", func(w string) error {
		c.KernelArgs = append(c.KernelArgs, w)
		return nil
	})
	keep := fs.Bool("keep", false, "lock: keep the versions the lock pins, resolve only the packages it lacks")
	fs.Parse(os.Args[2:])
	c.Rootfs = *rootfs
	c.Logf = log.New(os.Stderr, "berth-image: ", 0).Printf

	var err error
	switch os.Args[1] {
	case "build":
		c.Epoch = epoch()
		err = image.Build(c)
	case "images":
		err = image.Images(c.Out, c.Logf)
	case "iso":
		err = image.ISO(c.Out, c.Logf)
	case "lock":
		var l image.Lock
		if l, err = image.MakeLock(c.Rootfs, image.NewApt(c.Rootfs, c.Apt, c.Cache), *keep); err == nil {
			for g, ps := range l {
				c.Logf("[%s] %d packages", g, len(ps))
			}
		}
	default:
		err = fmt.Errorf("unknown command %q: use build, images, iso or lock", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-image:", err)
		os.Exit(1)
	}
}

// epoch is SOURCE_DATE_EPOCH, or 0 (1970) so that a build without it is
// still reproducible.
func epoch() time.Time {
	s, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64)
	if err != nil {
		return time.Unix(0, 0)
	}
	return time.Unix(s, 0)
}
