package sysd

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"berth.dev/berth/internal/cmdline"
	"berth.dev/berth/internal/kmod"
	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/fleet"
	"berth.dev/berth/sysd/machine"
	"berth.dev/berth/sysd/network"
)

// system answers the API's machine-wide questions and requests.
type system struct {
	version, slot, machineID string
	cmdline                  cmdline.Params
	boot                     machine.Boot
	bootMS                   int64
	mu                       sync.Mutex
	userdata                 *wire.UserData
	storage, storageProblem  string
	net                      *network.Manager
	firmware                 *machine.Firmware
	aliasesOnce              sync.Once
	aliases                  *kmod.Matcher
	fleet                    *fleet.Fleet // nil: in no swarm
}

func (s *system) setFleet(f *fleet.Fleet) {
	s.mu.Lock()
	s.fleet = f
	s.mu.Unlock()
}

func (s *system) getFleet() *fleet.Fleet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fleet
}

// errNoSwarm is os-ctl fleet's answer on a machine in no swarm.
var errNoSwarm = errors.New("this machine is in no swarm: berth.swarm is not set in its user-data")

// Fleet is GET /v1/fleet.
func (s *system) Fleet(ctx context.Context) (wire.Fleet, error) {
	f := s.getFleet()
	if f == nil {
		return wire.Fleet{}, errNoSwarm
	}
	return f.Status(ctx), nil
}

// FleetUnlock is POST /v1/fleet/unlock.
func (s *system) FleetUnlock(ctx context.Context, machine string) error {
	f := s.getFleet()
	if f == nil {
		return errNoSwarm
	}
	return f.Unlock(ctx, machine)
}

// Hardware is GET /v1/hardware: the devices, their drivers, and the
// firmware drivers asked for in vain.
func (s *system) Hardware() (wire.Hardware, error) {
	s.aliasesOnce.Do(func() {
		// Read once, when first asked: the root's modules.alias does
		// not change while it runs.
		a, _ := kmod.ReadAliases(kmod.ModulesDir())
		s.aliases = a.Matcher()
	})
	hw, err := machine.Hardware("/sys", s.aliases)
	if s.firmware != nil {
		hw.Firmware = s.firmware.Missing()
	}
	return hw, err
}

// Config is the user-data in force (GET /v1/config).
func (s *system) Config() *wire.UserData {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userdata
}

func (s *system) setStorage(line, problem string) {
	s.mu.Lock()
	s.storage, s.storageProblem = line, problem
	s.mu.Unlock()
}

func (s *system) setUserData(e *wire.UserData) {
	s.mu.Lock()
	s.userdata = e
	s.mu.Unlock()
}

// Network is GET /v1/network.
func (s *system) Network() wire.Net {
	if s.net == nil {
		return wire.Net{}
	}
	return s.net.Status()
}

func (s *system) Status() wire.System {
	host, _ := os.Hostname()
	st := wire.System{Version: s.version, Slot: s.slot, MachineID: s.machineID,
		Hostname: host, BootN: s.boot.N, BootMS: s.bootMS}
	var info unix.Sysinfo_t
	if unix.Sysinfo(&info) == nil {
		st.Booted = time.Now().Add(-time.Duration(info.Uptime) * time.Second).Truncate(time.Second)
	}
	var problem string
	st.Root, problem = machine.RootCheck(s.cmdline, machine.VerityStatus)
	if problem != "" {
		st.Problems = append(st.Problems, problem)
	}
	used, total := machine.Memory()
	st.MemoryKB.Used, st.MemoryKB.Total = used, total
	s.mu.Lock()
	st.Storage = s.storage
	if s.fleet != nil {
		m := s.fleet.Member.State()
		st.Swarm = &m
	}
	if s.firmware != nil {
		for _, f := range s.firmware.Missing() {
			st.Problems = append(st.Problems, "firmware: "+f)
		}
	}
	if s.storageProblem != "" {
		st.Problems = append(st.Problems, s.storageProblem)
	}
	if s.userdata != nil {
		for _, d := range s.userdata.Diagnostics {
			st.Problems = append(st.Problems, "user-data: "+d.String())
		}
		for _, e := range s.userdata.Errors {
			st.Problems = append(st.Problems, "user-data: "+e)
		}
	}
	s.mu.Unlock()
	return st
}

// Reboot and Poweroff ask PID 1, which stops sysd (and so every service)
// first: SIGINT is its Ctrl-Alt-Del, SIGTERM its poweroff.
func (s *system) Reboot() error   { return unix.Kill(1, unix.SIGINT) }
func (s *system) Poweroff() error { return unix.Kill(1, unix.SIGTERM) }
