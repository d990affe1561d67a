// Package userdata reads cloud-init style user-data: #cloud-config YAML
// (the common subset of cloud-init plus Berth's own "berth:" section), #!
// scripts, gzip-compressed data and cloud-init's MIME multi-part. It is
// strict and forgiving at once: every problem is reported with its source,
// line and key, and whatever is valid is kept.
package userdata

import (
	"fmt"

	"berth.dev/berth/sysd/unit"
	"berth.dev/berth/update"
)

// Config is the effective user-data.
type Config struct {
	Hostname          string      `json:"hostname,omitempty"`
	FQDN              string      `json:"fqdn,omitempty"`
	ManageEtcHosts    bool        `json:"manage_etc_hosts,omitempty"`
	Users             []User      `json:"users,omitempty"`
	Groups            []Group     `json:"groups,omitempty"`
	SSHAuthorizedKeys []string    `json:"ssh_authorized_keys,omitempty"` // for the default user
	SSHPwauth         bool        `json:"ssh_pwauth"`
	WriteFiles        []WriteFile `json:"write_files,omitempty"`
	Bootcmd           []Command   `json:"bootcmd,omitempty"`
	Runcmd            []Command   `json:"runcmd,omitempty"`
	NTPServers        []string    `json:"ntp_servers,omitempty"`
	Timezone          string      `json:"timezone,omitempty"`
	Scripts           []Script    `json:"scripts,omitempty"` // #! parts, run once per instance
	CACerts           *CACerts    `json:"ca_certs,omitempty"`
	// Parts says where each part of the user-data came from and what it
	// was, in order; a later part's keys replace an earlier one's.
	Parts []Part `json:"parts"`
	Berth Berth  `json:"berth"`
}

// DefaultUser is the user top-level ssh_authorized_keys belong to.
const DefaultUser = "berth"

// User is an entry of users:; Default marks the "default" entry.
type User struct {
	Name              string   `json:"name"`
	Default           bool     `json:"default,omitempty"`
	Gecos             string   `json:"gecos,omitempty"`
	Groups            []string `json:"groups,omitempty"`
	Shell             string   `json:"shell,omitempty"`
	Sudo              []string `json:"sudo,omitempty"`
	SSHAuthorizedKeys []string `json:"ssh_authorized_keys,omitempty"`
	LockPasswd        bool     `json:"lock_passwd"`
	Passwd            string   `json:"passwd,omitempty"` // a crypt(3) hash
}

// Group is an entry of groups: (a group and its members).
type Group struct {
	Name    string   `json:"name"`
	Members []string `json:"members,omitempty"`
}

// WriteFile is an entry of write_files:.
type WriteFile struct {
	Path        string `json:"path"`
	Content     []byte `json:"content"` // decoded
	Permissions uint32 `json:"permissions"`
	Owner       string `json:"owner"`
	Append      bool   `json:"append,omitempty"`
	Defer       bool   `json:"defer,omitempty"`
}

// Command is a bootcmd/runcmd entry: a shell line, or an argument list.
type Command struct {
	Shell string   `json:"shell,omitempty"`
	Args  []string `json:"args,omitempty"`
}

func (c Command) String() string {
	if c.Shell != "" {
		return c.Shell
	}
	return fmt.Sprint(c.Args)
}

// Part is one part of the user-data.
type Part struct {
	Source string   `json:"source"`         // "fw_cfg/user-data[config.yaml]"
	Type   string   `json:"type"`           // cloud-config, x-shellscript
	Keys   []string `json:"keys,omitempty"` // the top-level keys it set
}

// Script is a #! part of the user-data.
type Script struct {
	Name    string `json:"name"`
	Content []byte `json:"content"`
}

// Berth is the berth: section.
type Berth struct {
	Services []Service         `json:"services,omitempty"`
	Network  *Network          `json:"network,omitempty"`
	Update   *Update           `json:"update,omitempty"`
	Docker   map[string]any    `json:"docker,omitempty"` // daemon.json
	Sysctl   map[string]string `json:"sysctl,omitempty"`
	Modules  []string          `json:"modules,omitempty"`
	Storage  *Storage          `json:"storage,omitempty"`
	Install  *Install          `json:"install,omitempty"`
	Proxy    *Proxy            `json:"proxy,omitempty"`
	Swarm    *Swarm            `json:"swarm,omitempty"`
}

// Swarm is berth.swarm: this machine's membership in a Docker Swarm.
type Swarm struct {
	Role SwarmRole `json:"role"`
	// Join is a manager's address (host or IP, optionally :PORT of its
	// Berth fleet endpoint); empty on the first manager, which creates
	// the swarm.
	Join string `json:"join,omitempty"`
	// Secret is shared by the cluster: it authenticates joining and
	// reboot coordination. It never prints.
	Secret Secret `json:"secret"`
	// Advertise is the address or interface for swarm traffic; empty:
	// the address this machine reaches Join (or its default route) from.
	Advertise string `json:"advertise,omitempty"`
}

// SwarmRole is a swarm node's role.
type SwarmRole string

const (
	SwarmManager SwarmRole = "manager"
	SwarmWorker  SwarmRole = "worker"
)

// Secret is a value that is never printed or written out as it is: logs,
// the effective user-data and os-ctl show it hidden.
type Secret string

func (Secret) String() string                 { return "(hidden)" }
func (s Secret) GoString() string             { return s.String() }
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"(hidden)"`), nil }

// MinSecretLen is the shortest berth.swarm.secret taken: it keys the
// fleet's TLS certificate and MACs, so it must not be guessable.
const MinSecretLen = 32

// Coordination says whom a machine asks before it reboots into a new
// slot.
type Coordination string

const (
	CoordinationNone  Coordination = ""
	CoordinationSwarm Coordination = "swarm"
)

// CACerts is cloud-init's ca_certs: certificates (PEM) the machine
// trusts beside, or with remove_defaults instead of, Debian's.
type CACerts struct {
	Trusted        []string `json:"trusted,omitempty"`
	RemoveDefaults bool     `json:"remove_defaults,omitempty"`
}

// Proxy is berth.proxy: the HTTP(S) proxy dockerd, containerd and the
// updater go through.
type Proxy struct {
	HTTP    string   `json:"http,omitempty"`
	HTTPS   string   `json:"https,omitempty"`
	NoProxy []string `json:"no_proxy,omitempty"`
}

// LargestDisk, as berth.install's disk, asks for the largest disk the
// installer may use.
const LargestDisk = "largest"

// Install is an unattended install from the installer medium's live
// system: the whole user-data goes onto the installed disk, for its first
// boot. An installed machine ignores it.
type Install struct {
	Disk   string `json:"disk"` // /dev/sda, or LargestDisk
	Reboot bool   `json:"reboot"`
	Force  bool   `json:"force,omitempty"`
}

// Storage is what sysd does with the disk.
type Storage struct {
	// Grow is whether STATE grows into the rest of its disk at boot
	// (default true).
	Grow bool `json:"grow"`
}

// GrowState reports whether STATE may grow (berth.storage.grow).
func (b Berth) GrowState() bool { return b.Storage == nil || b.Storage.Grow }

// Service is a unit file delivered in user-data (like CoreOS's
// coreos.units): written to /etc/berth/services.
type Service struct {
	Name    string `json:"name"`
	Content string `json:"content,omitempty"`
	Enabled bool   `json:"enabled"`
}

// Network is static network configuration.
type Network struct {
	Interfaces []Interface `json:"interfaces,omitempty"`
	// OnlineTimeout is how long services ordered after network-online wait.
	OnlineTimeout string `json:"online_timeout,omitempty"`
}

// Interface configures the links its match selects.
type Interface struct {
	Name      string   `json:"name,omitempty"` // a glob: eth*, enp0s*
	MAC       string   `json:"mac,omitempty"`
	DHCP      *bool    `json:"dhcp,omitempty"` // default: true unless addresses are given
	Addresses []string `json:"addresses,omitempty"`
	Gateway   string   `json:"gateway,omitempty"`
	Routes    []Route  `json:"routes,omitempty"`
	MTU       int      `json:"mtu,omitempty"`
	DNS       []string `json:"dns,omitempty"`
	Search    []string `json:"search,omitempty"`
}

// Route is an extra route.
type Route struct {
	To  string `json:"to"`
	Via string `json:"via"`
}

// Update is the berth.update section: where releases come from and what
// the machine does about them on its own.
type Update struct {
	Server  string `json:"server,omitempty"`
	Channel string `json:"channel,omitempty"`
	// Strategy: off; check (log what is offered; the default); download
	// (fetch and verify it too); reboot (install it, and reboot within
	// RebootWindow).
	Strategy update.Strategy `json:"strategy,omitempty"`
	Interval string          `json:"interval,omitempty"` // between checks, ±10% jitter; default 6h
	// RebootWindow is HH:MM-HH:MM, UTC, when strategy reboot may reboot.
	RebootWindow string `json:"reboot_window,omitempty"`
	// HealthTimeout is how long a new slot has to pass its health gate
	// (default 120s); HealthChecks are URLs it must answer too
	// (http(s):// 2xx/3xx, tcp:// accepts), e.g. a user container's port.
	HealthTimeout string   `json:"health_timeout,omitempty"`
	HealthChecks  []string `json:"health_checks,omitempty"`
	Tries         int      `json:"tries,omitempty"` // boot tries of a new slot; default 3
	// TrialTimeout bounds a slot on trial outside sysd (PID 1 reboots
	// when no verdict came within it; default 15m, at least 1m).
	TrialTimeout string `json:"trial_timeout,omitempty"`
	// Coordination swarm: before rebooting into a new slot the machine
	// takes one of the fleet's reboot slots from a swarm manager
	// (FleetLock), and gives it back once its health gate passed.
	Coordination Coordination `json:"coordination,omitempty"`
	// MaxRebooting is how many machines of the fleet may hold a reboot
	// slot at once (default 1); the managers' setting counts.
	MaxRebooting int `json:"max_rebooting,omitempty"`
	// RebootTimeout is how long a holder has to report steady state
	// before os-ctl fleet status calls the rollout halted (default 30m).
	RebootTimeout string `json:"reboot_timeout,omitempty"`
}

// Diagnostic is one problem in user-data: File names the source and
// part, Key the path of the key ("users[1].name"). It is the same type as
// a unit file's, so both print and serialise alike.
type Diagnostic = unit.Diagnostic

// Diagnostics is every problem found.
type Diagnostics = unit.Diagnostics
