package userdata

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// An IMDSv2-only service (as new AWS instances have): every GET without
// the session token is refused.
func TestEC2IMDSv2(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
			if r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") == "" {
				http.Error(w, "no TTL", http.StatusBadRequest)
				return
			}
			w.Write([]byte("tok-123"))
			return
		}
		if r.Header.Get("X-Aws-Ec2-Metadata-Token") != "tok-123" {
			http.Error(w, "", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/latest/meta-data/instance-id":
			w.Write([]byte("i-v2\n"))
		case "/latest/user-data":
			w.Write([]byte("#cloud-config\nhostname: v2\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	s, err := EC2(context.Background(), srv.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if s.Source != "ec2:"+srv.URL || string(s.UserData) != "#cloud-config\nhostname: v2\n" || string(s.MetaData) != "instance-id: i-v2\n" {
		t.Errorf("%+v", s)
	}
}

// A service that knows no tokens: IMDSv1, said in the source.
func TestEC2FallsBackToIMDSv1(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method != http.MethodGet:
			http.Error(w, "", http.StatusMethodNotAllowed)
		case r.URL.Path == "/latest/meta-data/instance-id":
			w.Write([]byte("i-v1"))
		default:
			http.NotFound(w, r) // no user-data: a seed with none
		}
	}))
	defer srv.Close()
	s, err := EC2(context.Background(), srv.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if s.Source != "ec2:"+srv.URL+" (IMDSv1)" || len(s.UserData) != 0 || string(s.MetaData) != "instance-id: i-v1\n" {
		t.Errorf("%+v", s)
	}
}

func TestGCE(t *testing.T) {
	var flavorless bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata-Flavor") != "Google" || r.Host != GCEHost {
			http.Error(w, "", http.StatusForbidden)
			return
		}
		if !flavorless {
			w.Header().Set("Metadata-Flavor", "Google")
		}
		switch r.URL.Path {
		case "/computeMetadata/v1/instance/id":
			w.Write([]byte("4520031799277581759"))
		case "/computeMetadata/v1/instance/hostname":
			w.Write([]byte("berth-1.c.project.internal"))
		case "/computeMetadata/v1/instance/attributes/user-data":
			w.Write([]byte("#cloud-config\ntimezone: Europe/Berlin\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	s, err := GCE(context.Background(), srv.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, md, ds := Load(s)
	if s.Source != "gce:metadata.google.internal" || len(ds) != 0 || md.InstanceID != "4520031799277581759" || c.Hostname != "berth-1" || c.Timezone != "Europe/Berlin" {
		t.Errorf("%+v %+v %+v %v", s, c, md, ds)
	}
	// Something at the address that is not Google's server.
	flavorless = true
	if _, err := GCE(context.Background(), srv.URL, 5*time.Second); err == nil || !strings.Contains(err.Error(), "Metadata-Flavor") {
		t.Errorf("an answer without Metadata-Flavor: %v", err)
	}
}
