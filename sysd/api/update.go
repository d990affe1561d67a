package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/update"
)

// Updates is what the API needs of the updater.
type Updates interface {
	Status() update.Status
	Upgrade(ctx context.Context, opt update.Options, report func(update.Progress)) (update.Attempt, error)
	Rollback() (update.SlotRelease, error)
	SetChannel(name string) error
}

func updateRoutes(mux *http.ServeMux, up Updates) {
	if up == nil {
		mux.HandleFunc("/v1/update/", func(w http.ResponseWriter, r *http.Request) {
			reply(w, http.StatusServiceUnavailable, wire.Error{Error: "updates are not available on this machine"})
		})
		return
	}
	mux.HandleFunc("GET /v1/update", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, up.Status())
	})
	// POST /v1/update runs an update and streams its progress; 409 while
	// another runs, or while the running slot is on trial. The status is
	// sent with the first line, so those refusals are plain errors; a
	// failure later is the last line's error.
	mux.HandleFunc("POST /v1/update", func(w http.ResponseWriter, r *http.Request) {
		var opt update.Options
		if r.ContentLength != 0 {
			if err := json.NewDecoder(r.Body).Decode(&opt); err != nil {
				reply(w, http.StatusBadRequest, wire.Error{Error: "update options: " + err.Error()})
				return
			}
		}
		out := newNDJSON(w)
		a, err := up.Upgrade(r.Context(), opt, func(p update.Progress) { out.line(wire.UpgradeLine{Progress: &p}) })
		if errors.Is(err, update.ErrBusy) && !out.started {
			reply(w, http.StatusConflict, wire.Error{Error: err.Error() + ": see os-ctl status"})
			return
		}
		if errors.Is(err, update.ErrRefused) && !out.started {
			reply(w, http.StatusConflict, wire.Error{Error: err.Error()})
			return
		}
		line := wire.UpgradeLine{Attempt: &a, Done: true}
		if err != nil {
			line.Error = err.Error()
		}
		out.line(line)
	})
	mux.HandleFunc("POST /v1/update/rollback", func(w http.ResponseWriter, r *http.Request) {
		to, err := up.Rollback()
		switch {
		case errors.Is(err, update.ErrBusy):
			reply(w, http.StatusConflict, wire.Error{Error: err.Error() + ": see os-ctl status"})
		case errors.Is(err, update.ErrRefused):
			reply(w, http.StatusConflict, wire.Error{Error: err.Error()})
		case err != nil:
			reply(w, http.StatusInternalServerError, wire.Error{Error: err.Error()})
		default:
			reply(w, http.StatusAccepted, to)
		}
	})
	mux.HandleFunc("PUT /v1/update/channel", func(w http.ResponseWriter, r *http.Request) {
		var req wire.ChannelRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			reply(w, http.StatusBadRequest, wire.Error{Error: "channel: " + err.Error()})
			return
		}
		if err := up.SetChannel(req.Channel); err != nil {
			reply(w, http.StatusBadRequest, wire.Error{Error: err.Error()})
			return
		}
		reply(w, http.StatusOK, up.Status())
	})
}
