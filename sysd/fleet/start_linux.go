package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"berth.dev/berth/internal/kmod"
	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/userdata"
)

// DockerSocket is dockerd's API socket on the host (docker.service).
const DockerSocket = "/run/berth/docker/docker.sock"

// Modules are what Swarm's networking asks of the kernel: overlay
// networks are VXLAN; the routing mesh is IPVS, with packets marked in
// mangle; encrypted overlays are ESP. Loaded when berth.swarm is set,
// before the machine joins.
var Modules = []string{"vxlan", "ip_vs", "ip_vs_rr", "xt_ipvs", "xt_mark", "nft_compat", "br_netfilter", "esp4", "xfrm_user"}

// Fleet is a machine's part in its swarm: membership, the endpoint,
// reboot coordination, and what os-ctl fleet asks.
type Fleet struct {
	Member *Member
	Server *Server
	Coord  *Coordinator
}

// Start brings up the membership of berth.swarm and the fleet endpoint;
// u is berth.update (the reboot slots' settings), machineID this
// machine's. Errors are the endpoint's; membership never fails, it
// retries.
func Start(ctx context.Context, sw userdata.Swarm, u *userdata.Update, machineID string, logf func(string, ...any)) (*Fleet, error) {
	for _, err := range kmod.LoadAll(Modules) {
		logf("swarm: %v", err)
	}
	key, err := NewKey(string(sw.Secret))
	if err != nil {
		return nil, err
	}
	d := NewDocker(DockerSocket)
	m := &Member{Swarm: sw, Docker: d, Client: NewClient(key), Logf: logf}
	s := &Server{Key: key, Docker: d, Max: 1, Logf: logf}
	if u != nil {
		s.Max = max(u.MaxRebooting, 1)
		if t, err := time.ParseDuration(u.RebootTimeout); err == nil {
			s.RebootTimeout = t
		}
	}
	f := &Fleet{Member: m, Server: s, Coord: &Coordinator{Member: m, MachineID: machineID, Logf: logf}}
	go m.Run(ctx)
	l, err := net.Listen("tcp", ":"+strconv.Itoa(Port))
	if err != nil {
		return f, fmt.Errorf("fleet endpoint: %w", err)
	}
	go func() {
		if err := s.Serve(l); err != nil {
			logf("fleet endpoint: %v", err)
		}
	}()
	logf("swarm: %s; fleet endpoint on :%d", describe(sw), Port)
	return f, nil
}

func describe(sw userdata.Swarm) string {
	if sw.Join == "" {
		return "the first " + string(sw.Role) + ": creates the swarm unless it is in one"
	}
	return string(sw.Role) + ", joining through " + sw.Join
}

// Status is GET /v1/fleet: this machine's membership, and what its own
// endpoint (on a manager) or another manager says of the fleet.
func (f *Fleet) Status(ctx context.Context) wire.Fleet {
	var st wire.Fleet
	from, err := f.Member.Client.First(ctx, f.Member.Managers(), "/v1/fleet", struct{}{}, &st)
	st.Member = f.Member.State() // the answer does not speak for this machine
	if err != nil {
		st.Problem = "no manager answered: " + err.Error()
	}
	st.From = from
	return st
}

// Unlock frees the reboot slot machine holds, through a manager.
func (f *Fleet) Unlock(ctx context.Context, machine string) error {
	_, err := f.Member.Client.First(ctx, f.Member.Managers(), "/v1/fleet/unlock", wire.FleetUnlock{MachineID: machine}, nil)
	var re *RemoteError
	if errors.As(err, &re) {
		return errors.New(re.Value)
	}
	return err
}

// FromUserData starts the fleet when c has berth.swarm; nil otherwise.
func FromUserData(ctx context.Context, c *userdata.Config, machineID string, logf func(string, ...any)) *Fleet {
	if c == nil || c.Berth.Swarm == nil {
		return nil
	}
	f, err := Start(ctx, *c.Berth.Swarm, c.Berth.Update, machineID, logf)
	if err != nil {
		logf("swarm: %v", err)
	}
	return f
}

// EngineLabels are the labels this machine's dockerd carries in a swarm.
func EngineLabels(machineID, version string) []string {
	return []string{LabelMachineID + "=" + machineID, LabelVersion + "=" + version}
}
