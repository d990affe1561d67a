// Package api is sysd's HTTP/JSON interface on a unix socket
// (/run/berth/api.sock, root only), versioned under /v1/ and described in
// docs/api.md. os-ctl is its client; so may be anything that speaks HTTP.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"berth.dev/berth/sysd/api/wire"
	"berth.dev/berth/sysd/logs"
	"berth.dev/berth/sysd/service"
)

// Services is what the API needs of the supervisor.
type Services interface {
	List() []wire.Service
	Get(name string) (wire.Service, error)
	Start(name string) error
	Stop(name string) error
	Restart(name string) error
	Enable(name string) error
	Disable(name string) error
	Log(name string) (*logs.Log, error)
	Subscribe() (<-chan wire.Event, func())
	Reload() error
}

// System is what the API needs of the machine.
type System interface {
	Status() wire.System
	Reboot() error
	Poweroff() error
	Config() *wire.UserData // the user-data in force, with its source and diagnostics
	Network() wire.Net      // links, addresses, routes, leases, DNS
	Hardware() (wire.Hardware, error)
	Fleet(ctx context.Context) (wire.Fleet, error)
	FleetUnlock(ctx context.Context, machine string) error
}

// Handler returns the /v1/ routes; up may be nil (no updater).
func Handler(svcs Services, sys System, up Updates, in Installs) http.Handler {
	mux := http.NewServeMux()
	updateRoutes(mux, up)
	installRoutes(mux, in, sys.Reboot)
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		st := sys.Status()
		for _, s := range svcs.List() {
			st.Services.Total++
			if s.Up || s.State == wire.Finished {
				st.Services.Up++
			}
			if s.State == wire.Failed || s.State == wire.Invalid {
				st.Services.Failed = append(st.Services.Failed, s.Name)
			}
			st.Problems = append(st.Problems, s.Problems...)
		}
		reply(w, http.StatusOK, st)
	})
	mux.HandleFunc("GET /v1/fleet", func(w http.ResponseWriter, r *http.Request) {
		f, err := sys.Fleet(r.Context())
		if err != nil {
			fail(w, err)
			return
		}
		reply(w, http.StatusOK, f)
	})
	mux.HandleFunc("POST /v1/fleet/unlock", func(w http.ResponseWriter, r *http.Request) {
		var req wire.FleetUnlock
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.MachineID == "" {
			reply(w, http.StatusBadRequest, wire.Error{Error: "name the machine: its machine ID, host name or node ID"})
			return
		}
		if err := sys.FleetUnlock(r.Context(), req.MachineID); err != nil {
			fail(w, err)
			return
		}
		reply(w, http.StatusOK, struct{}{})
	})
	mux.HandleFunc("GET /v1/config", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, sys.Config())
	})
	mux.HandleFunc("GET /v1/network", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, sys.Network())
	})
	mux.HandleFunc("GET /v1/hardware", func(w http.ResponseWriter, r *http.Request) {
		hw, err := sys.Hardware()
		if err != nil && len(hw.Devices) == 0 {
			fail(w, err)
			return
		}
		reply(w, http.StatusOK, hw)
	})
	mux.HandleFunc("GET /v1/services", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, svcs.List())
	})
	mux.HandleFunc("GET /v1/services/{name}", func(w http.ResponseWriter, r *http.Request) {
		st, err := svcs.Get(r.PathValue("name"))
		if err != nil {
			fail(w, err)
			return
		}
		reply(w, http.StatusOK, st)
	})
	actions := map[string]func(string) error{
		"start": svcs.Start, "stop": svcs.Stop, "restart": svcs.Restart,
		"enable": svcs.Enable, "disable": svcs.Disable,
	}
	mux.HandleFunc("POST /v1/services/{name}/{action}", func(w http.ResponseWriter, r *http.Request) {
		act, ok := actions[r.PathValue("action")]
		if !ok {
			reply(w, http.StatusNotFound, wire.Error{Error: fmt.Sprintf("no action %q (start, stop, restart, enable, disable)", r.PathValue("action"))})
			return
		}
		if err := act(r.PathValue("name")); err != nil {
			fail(w, err)
			return
		}
		st, _ := svcs.Get(r.PathValue("name"))
		reply(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		if err := svcs.Reload(); err != nil {
			fail(w, err)
			return
		}
		reply(w, http.StatusOK, svcs.List())
	})
	mux.HandleFunc("GET /v1/logs/{name}", func(w http.ResponseWriter, r *http.Request) {
		serveLog(w, r, svcs)
	})
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		ch, stop := svcs.Subscribe()
		defer stop()
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		flush(w)
		enc := json.NewEncoder(w)
		for {
			select {
			case e := <-ch:
				if enc.Encode(e) != nil {
					return
				}
				flush(w)
			case <-r.Context().Done():
				return
			}
		}
	})
	mux.HandleFunc("POST /v1/reboot", func(w http.ResponseWriter, r *http.Request) {
		power(w, sys.Reboot)
	})
	mux.HandleFunc("POST /v1/poweroff", func(w http.ResponseWriter, r *http.Request) {
		power(w, sys.Poweroff)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNotFound, wire.Error{Error: fmt.Sprintf("no such endpoint: %s %s (see docs/api.md)", r.Method, r.URL.Path)})
	})
	return mux
}

// serveLog answers GET /v1/logs/NAME?n=N&follow=1 with one line per log
// line, "TIME TEXT", or NDJSON with format=json.
func serveLog(w http.ResponseWriter, r *http.Request, svcs Services) {
	l, err := svcs.Log(r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	n := 100
	if v := r.URL.Query().Get("n"); v != "" {
		if n, err = strconv.Atoi(v); err != nil {
			reply(w, http.StatusBadRequest, wire.Error{Error: fmt.Sprintf("n=%q is not a number", v)})
			return
		}
	}
	asJSON := r.URL.Query().Get("format") == "json"
	write := func(line logs.Line) error {
		if asJSON {
			return json.NewEncoder(w).Encode(line)
		}
		_, err := fmt.Fprintln(w, line.String())
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if asJSON {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	if r.URL.Query().Get("follow") != "1" {
		for _, line := range l.Tail(n) {
			write(line)
		}
		return
	}
	tail, lines, stop := l.Follow(n)
	defer stop()
	for _, line := range tail {
		write(line)
	}
	flush(w)
	for {
		select {
		case line := <-lines:
			if write(line) != nil {
				return
			}
			flush(w)
		case <-r.Context().Done():
			return
		}
	}
}

func power(w http.ResponseWriter, f func() error) {
	if err := f(); err != nil {
		reply(w, http.StatusInternalServerError, wire.Error{Error: err.Error()})
		return
	}
	reply(w, http.StatusAccepted, struct{}{})
}

func fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, service.ErrNotFound) {
		code = http.StatusNotFound
	}
	reply(w, code, wire.Error{Error: err.Error()})
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// ndjson is a streamed answer, one JSON value a line. The status goes out
// with the first line: until then a handler may still answer with a
// plain error.
type ndjson struct {
	w       http.ResponseWriter
	enc     *json.Encoder
	started bool
}

func newNDJSON(w http.ResponseWriter) *ndjson { return &ndjson{w: w, enc: json.NewEncoder(w)} }

// line sends v now.
func (s *ndjson) line(v any) {
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "application/x-ndjson")
		s.w.WriteHeader(http.StatusOK)
	}
	s.enc.Encode(v)
	flush(s.w)
}

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}
