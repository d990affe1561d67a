package wire

import "berth.dev/berth/update"

// UpgradeLine is one line of POST /v1/update's NDJSON answer: progress
// lines, then one with the attempt and, on failure, the error.
type UpgradeLine struct {
	Progress *update.Progress `json:"progress,omitempty"`
	Attempt  *update.Attempt  `json:"attempt,omitempty"`
	Error    string           `json:"error,omitempty"`
	Done     bool             `json:"done,omitempty"`
}

// ChannelRequest is PUT /v1/update/channel's body.
type ChannelRequest struct {
	Channel string `json:"channel"`
}
