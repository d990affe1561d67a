package userdata

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

const testSecret = "0123456789abcdef0123456789abcdef"

func TestSwarm(t *testing.T) {
	c, ds := parse(t, "#cloud-config\nberth:\n  swarm:\n    role: worker\n    join: 192.168.77.11\n    secret: "+testSecret+"\n    advertise: eth1\n  update:\n    coordination: swarm\n    max_rebooting: 2\n    reboot_timeout: 20m\n")
	if len(ds) != 0 {
		t.Fatalf("diagnostics: %v", ds)
	}
	sw := c.Berth.Swarm
	if sw == nil || sw.Role != SwarmWorker || sw.Join != "192.168.77.11" || string(sw.Secret) != testSecret || sw.Advertise != "eth1" {
		t.Fatalf("swarm: %+v", sw)
	}
	if u := c.Berth.Update; u.Coordination != CoordinationSwarm || u.MaxRebooting != 2 || u.RebootTimeout != "20m" {
		t.Fatalf("update: %+v", u)
	}
	// The secret never prints, in JSON (the effective user-data, the
	// API) or through fmt.
	b, _ := json.Marshal(c)
	if strings.Contains(string(b), testSecret) || strings.Contains(fmt.Sprintf("%v %+v %#v %s", sw, sw, sw, sw.Secret), testSecret) {
		t.Fatalf("the secret shows: %s", b)
	}
}

func TestSwarmBadInput(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"bad role", "    role: leader\n    join: a\n    secret: " + testSecret + "\n",
			`user-data:4: berth.swarm.role: "leader" is not a swarm role (write role: manager or role: worker)`},
		{"short secret", "    role: manager\n    secret: hunter2\n",
			"user-data:5: berth.swarm.secret: the secret has 7 characters: at least 32 are needed"},
		{"no secret", "    role: manager\n",
			"user-data:4: berth.swarm.secret: the swarm's secret is missing"},
		{"worker without join", "    role: worker\n    secret: " + testSecret + "\n",
			"user-data:4: berth.swarm.join: a worker needs a manager to join"},
		{"bad join", "    role: worker\n    join: 10.0.0.1:http\n    secret: " + testSecret + "\n",
			`user-data:5: berth.swarm.join: "10.0.0.1:http": port "http" is not a number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ds := parse(t, "#cloud-config\nberth:\n  swarm:\n"+tc.src)
			if len(ds) != 1 || !strings.HasPrefix(ds[0].String(), tc.want) {
				t.Fatalf("got %v\nwant %s", ds, tc.want)
			}
			if strings.Contains(ds[0].String(), "hunter2") {
				t.Errorf("the secret shows in %s", ds[0])
			}
			if c.Berth.Swarm != nil {
				t.Errorf("a bad berth.swarm was kept: %+v", c.Berth.Swarm)
			}
		})
	}
	// coordination without swarm: named at its line, and the machine
	// reboots on its own as before; the rest of berth.update stands.
	c, ds := parse(t, "#cloud-config\nberth:\n  update:\n    strategy: reboot\n    coordination: swarm\n")
	if len(ds) != 1 || !strings.HasPrefix(ds[0].String(), "user-data:5: berth.update.coordination: coordination swarm needs this machine in a swarm") {
		t.Fatalf("got %v", ds)
	}
	if c.Berth.Update.Coordination != CoordinationNone || c.Berth.Update.Strategy != "reboot" {
		t.Fatalf("update: %+v", c.Berth.Update)
	}
	_, ds = parse(t, "#cloud-config\nberth:\n  update:\n    coordination: etcd\n")
	if len(ds) != 1 || !strings.HasPrefix(ds[0].String(), `user-data:4: berth.update.coordination: "etcd" is not a coordination`) {
		t.Fatalf("got %v", ds)
	}
}
