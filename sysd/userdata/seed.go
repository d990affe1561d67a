package userdata

import (
	"crypto/sha256"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Seed is what one datasource delivered.
type Seed struct {
	Source        string `json:"source"` // "nocloud:/dev/vdb", "fw_cfg", "url:http://…", "ec2"
	UserData      []byte `json:"-"`
	MetaData      []byte `json:"-"`
	NetworkConfig []byte `json:"-"`
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
	return c, md, ds
}
