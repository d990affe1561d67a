package wire

import "berth.dev/berth/sysd/userdata"

// UserData is GET /v1/config: the user-data in force, with where it came
// from and what was wrong with it; sysd keeps it on STATE too.
type UserData struct {
	Source      string                `json:"source"` // the datasource, or "none"
	InstanceID  string                `json:"instance_id,omitempty"`
	Config      *userdata.Config      `json:"config"`
	Diagnostics []userdata.Diagnostic `json:"diagnostics,omitempty"`
	Errors      []string              `json:"errors,omitempty"` // applying it
}
