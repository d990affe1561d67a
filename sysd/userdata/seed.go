package userdata

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Seed is what one datasource delivered.
type Seed struct {
	Source        string `json:"source"` // "nocloud:/dev/vdb", "fw_cfg", "url:http://…", "ec2"
	UserData      []byte `json:"-"`
	MetaData      []byte `json:"-"`
	NetworkConfig []byte `json:"-"` // cloud-init's network-config, version 1 or 2
	NetworkData   []byte `json:"-"` // OpenStack's network_data.json
}

// MetaData is the part of meta-data Berth reads.
type MetaData struct {
	InstanceID    string `yaml:"instance-id" json:"instance_id"`
	LocalHostname string `yaml:"local-hostname" json:"local_hostname,omitempty"`
}

// maxMetaData bounds NoCloud's meta-data.
const maxMetaData = 64 << 10

// ParseMetaData reads NoCloud's meta-data (YAML or JSON, which YAML
// reads too). Without an instance-id the seed's user-data names the
// instance: the same user-data is the same instance.
func ParseMetaData(s *Seed) (MetaData, Diagnostics) {
	var m MetaData
	var ds Diagnostics
	switch {
	case len(s.MetaData) > maxMetaData:
		// A YAML tree costs a hundred times its text; meta-data is a
		// few lines.
		ds = append(ds, Diagnostic{File: s.Source + "/meta-data", Msg: fmt.Sprintf("larger than %d KiB: ignored", maxMetaData>>10)})
	case len(s.MetaData) > 0:
		if err := yaml.Unmarshal(s.MetaData, &m); err != nil {
			ds = append(ds, yamlError(s.Source+"/meta-data", err))
		}
	}
	if m.InstanceID == "" {
		m.InstanceID = fmt.Sprintf("iid-%x", sha256.Sum256(s.UserData))[:20]
	}
	return m, ds
}

// Load parses a seed into a Config.
func Load(s *Seed) (*Config, MetaData, Diagnostics) {
	c := &Config{}
	md, ds := ParseMetaData(s)
	ds = append(ds, Parse(s.Source+"/user-data", s.UserData, c)...)
	if c.Hostname == "" && md.LocalHostname != "" {
		c.Hostname = md.LocalHostname
	}
	ds = append(ds, applyNetwork(s, c)...)
	return c, md, ds
}

// applyNetwork takes the datasource's network configuration, unless the
// user-data's own berth.network says otherwise. A part that does not
// parse is left out with its diagnostic: every link it does not
// configure gets DHCP.
func applyNetwork(s *Seed, c *Config) Diagnostics {
	var nw *Network
	var ds Diagnostics
	var name string
	switch {
	case len(s.NetworkConfig) > 0:
		name = s.Source + "/network-config"
		nw, ds = ParseNetworkConfig(name, s.NetworkConfig)
	case len(s.NetworkData) > 0:
		name = s.Source + "/network_data.json"
		nw, ds = ParseNetworkData(name, s.NetworkData)
	}
	if nw == nil {
		return ds
	}
	if c.Berth.Network != nil {
		return append(ds, Diagnostic{File: name, Msg: "not applied: the user-data's berth.network configures the network", Warning: true})
	}
	c.Berth.Network = nw
	return ds
}

// openStackMetaData turns a config drive's meta_data.json into the
// meta-data Berth reads: uuid is the instance ID, hostname the host name.
func openStackMetaData(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var m struct {
		UUID     string `json:"uuid"`
		Hostname string `json:"hostname"`
		Name     string `json:"name"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	host := m.Hostname
	if host == "" {
		host = m.Name
	}
	// OpenStack's hostname is often the FQDN: the short name is the host's.
	host, _, _ = strings.Cut(host, ".")
	return yaml.Marshal(MetaData{InstanceID: m.UUID, LocalHostname: host})
}
