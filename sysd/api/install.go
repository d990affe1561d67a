package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/install"
	"berth.dev/berth/update"
)

// Installs is what the API needs of the installer: only the live system
// has one.
type Installs interface {
	Install(ctx context.Context, req wire.InstallRequest, report func(update.Progress)) (wire.InstallResult, error)
}

func installRoutes(mux *http.ServeMux, in Installs, reboot func() error) {
	// POST /v1/install runs an install and streams its progress. A
	// refusal found before any byte is written (not the live system, a
	// disk in use, too small or not blank) is a plain error.
	mux.HandleFunc("POST /v1/install", func(w http.ResponseWriter, r *http.Request) {
		if in == nil {
			reply(w, http.StatusConflict, wire.Error{Error: "install runs on the installer medium's live system (make iso; docs/install.md): this machine booted from its disk"})
			return
		}
		var req wire.InstallRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			reply(w, http.StatusBadRequest, wire.Error{Error: "install request: " + err.Error()})
			return
		}
		out := newNDJSON(w)
		res, err := in.Install(r.Context(), req, func(p update.Progress) { out.line(wire.InstallLine{Progress: &p}) })
		var refusal *install.Refusal
		if !out.started && (errors.Is(err, install.ErrBusy) || errors.As(err, &refusal)) {
			reply(w, http.StatusConflict, wire.Error{Error: err.Error()})
			return
		}
		if !out.started && err != nil {
			reply(w, http.StatusInternalServerError, wire.Error{Error: err.Error()})
			return
		}
		line := wire.InstallLine{Result: &res, Done: true}
		if err != nil {
			line.Error = err.Error()
		}
		out.line(line)
		if err == nil && req.Reboot {
			// The answer is out; the reboot stops sysd.
			go reboot()
		}
	})
}
