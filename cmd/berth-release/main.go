// Command berth-release makes signing keys, publishes releases into a
// TUF repository of release channels and serves it.
package main

import (
	"os"

	"berth.dev/berth/update/publish"
)

func main() { os.Exit(publish.ReleaseMain(os.Args[1:], os.Stdout, os.Stderr)) }
