package wire

import "berth.dev/berth/update"

// InstallRequest is POST /v1/install's body: os-ctl install's flags, or
// berth.install from user-data.
type InstallRequest struct {
	Disk     string `json:"disk"` // /dev/sda, or "largest"
	UserData []byte `json:"user_data,omitempty"`
	Force    bool   `json:"force,omitempty"`
	Reboot   bool   `json:"reboot,omitempty"`
}

// InstallResult is what an install did.
type InstallResult struct {
	Disk    string   `json:"disk"`
	Size    int64    `json:"size"`
	Version string   `json:"version"`
	Wrote   []string `json:"wrote"` // the steps done, in order
	Seconds float64  `json:"seconds"`
}

// InstallLine is one line of POST /v1/install's NDJSON answer: progress
// lines, then one with the result and, on failure, the error.
type InstallLine struct {
	Progress *update.Progress `json:"progress,omitempty"`
	Result   *InstallResult   `json:"result,omitempty"`
	Error    string           `json:"error,omitempty"`
	Done     bool             `json:"done,omitempty"`
}
