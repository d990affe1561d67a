// Command os-ctl is the admin's tool: it talks to sysd's API. On a Berth
// machine it is a link to sysd; this build is for other hosts.
package main

import (
	"os"

	"berth.dev/berth/sysd/osctl"
)

func main() { os.Exit(osctl.Main(osctl.FromOS())) }
