package publish

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

const releaseUsage = `usage: berth-release COMMAND [FLAGS]

  init --keys DIR [--root-keys RDIR] [--root-threshold N] [--root-key-count M]
                                                    make the signing keys and the root of trust (DIR/root.json);
                                                    the root keys go to RDIR (default DIR/root-keys): move it
                                                    offline, only rotate needs it; N of M root keys sign a root
  publish --keys DIR --repo REPO --channel CH RELEASE_DIR
                                                    add a release (make image's build/release) and point CH at it
  promote --keys DIR --repo REPO --version V --channel CH
                                                    point CH at a release the repository holds
  rotate --keys DIR --root-keys RDIR --repo REPO --role ROLE
                                                    replace a role's key (root, targets, snapshot, timestamp);
                                                    machines follow the new root without reinstalling; a
                                                    rotation cut short is finished by running it again
  refresh --keys DIR --repo REPO [--snapshot]       sign the timestamp again (and the snapshot when it is due
                                                    or asked for); run it daily: a timestamp holds 24 h
  gc --repo REPO                                    remove the chunks no release on a channel uses (not while
                                                    a publish is under way)
  serve --repo REPO [--listen ADDR]                 serve the repository over HTTP (any static server will do)
`

// ReleaseMain is the berth-release command; it returns the exit status.
func ReleaseMain(args []string, stdout, stderr io.Writer) int {
	err := releaseRun(args, stdout)
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) || errors.Is(err, errReleaseUsage) {
		fmt.Fprint(stderr, releaseUsage)
		return 2
	}
	fmt.Fprintf(stderr, "berth-release: %v\n", err)
	return 1
}

var errReleaseUsage = errors.New("usage")

func releaseRun(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errReleaseUsage
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	keys := fs.String("keys", "", "")
	repo := fs.String("repo", "", "")
	channel := fs.String("channel", "", "")
	version := fs.String("version", "", "")
	listen := fs.String("listen", ":8000", "")
	role := fs.String("role", "", "")
	snapshot := fs.Bool("snapshot", false, "")
	rootKeys := fs.String("root-keys", "", "")
	threshold := fs.Int("root-threshold", 1, "")
	count := fs.Int("root-key-count", 0, "")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	need := func(names ...string) error {
		for _, n := range names {
			if fs.Lookup(n).Value.String() == "" {
				return fmt.Errorf("%s: --%s is missing", args[0], n)
			}
		}
		return nil
	}
	r := Repo{Dir: *repo, Keys: *keys, RootKeys: *rootKeys}
	switch args[0] {
	case "init":
		if err := need("keys"); err != nil {
			return err
		}
		o := KeyOptions{RootKeys: *rootKeys, Threshold: *threshold, Count: *count}
		if err := InitKeysWith(*keys, time.Now(), o); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "online keys and root of trust in %s (keep it secret; images trust %s/root.json)\n", *keys, *keys)
		fmt.Fprintf(stdout, "root keys in %s: move them offline; rotate needs them (--root-keys)\n", o.rootDir(*keys))
	case "publish":
		if err := need("keys", "repo", "channel"); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("publish: name the release directory (make image writes build/release)")
		}
		v, err := r.Publish(fs.Arg(0), *channel)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "published %s; channel %s → %s\n", v, *channel, v)
	case "promote":
		if err := need("keys", "repo", "channel", "version"); err != nil {
			return err
		}
		if err := r.Promote(*version, *channel); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "channel %s → %s\n", *channel, *version)
	case "rotate":
		if err := need("keys", "repo", "role"); err != nil {
			return err
		}
		if err := r.Rotate(*role); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s key replaced; the repository is signed again (keys in %s)\n", *role, *keys)
	case "refresh":
		if err := need("keys", "repo"); err != nil {
			return err
		}
		what, err := r.Refresh(*snapshot)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "signed again: %s\n", what)
	case "gc":
		if err := need("repo"); err != nil {
			return err
		}
		removed, freed, kept, err := r.GC()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %d chunks (%.1f MiB); %d kept\n", removed, float64(freed)/(1<<20), kept)
	case "serve":
		if err := need("repo"); err != nil {
			return err
		}
		if _, err := os.Stat(*repo + "/metadata/timestamp.json"); err != nil {
			return fmt.Errorf("serve: %s is not a release repository (publish into it first)", *repo)
		}
		fmt.Fprintf(stdout, "serving %s on %s\n", *repo, *listen)
		return http.ListenAndServe(*listen, http.FileServer(http.Dir(*repo)))
	default:
		return errReleaseUsage
	}
	return nil
}
