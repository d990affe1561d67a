package update

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// cutServer serves data with Range support and ends each of its first
// cuts answers after cutAfter bytes, as a flaky network would.
type cutServer struct {
	data     []byte
	cutAfter int
	mu       sync.Mutex
	cuts     int
	ranges   []string
	noRange  bool
	extra    []byte // appended to every answer: a server sending too much
}

func (s *cutServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rng := r.Header.Get("Range")
	s.ranges = append(s.ranges, rng)
	cut := s.cuts > 0
	if cut {
		s.cuts--
	}
	s.mu.Unlock()
	from := 0
	if rng != "" && !s.noRange {
		from, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rng, "bytes="), "-"))
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, len(s.data)-1, len(s.data)))
		w.WriteHeader(http.StatusPartialContent)
	}
	body := append(append([]byte{}, s.data[from:]...), s.extra...)
	if cut && len(body) > s.cutAfter {
		w.Write(body[:s.cutAfter])
		// Hijack and close: the client sees the connection end early.
		if hj, ok := w.(http.Hijacker); ok {
			w.(http.Flusher).Flush()
			c, _, _ := hj.Hijack()
			c.Close()
		}
		return
	}
	w.Write(body)
}

func target(url string, data []byte) Target {
	sum := sha256.Sum256(data)
	return Target{URL: url, Length: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
}

func payload(n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(1)).Read(b)
	return b
}

func TestDownloadResumesAfterCuts(t *testing.T) {
	data := payload(1 << 20)
	s := &cutServer{data: data, cutAfter: 300 << 10, cuts: 3}
	srv := httptest.NewServer(s)
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "root.img")
	var last int64
	err := Download(context.Background(), srv.Client(), target(srv.URL, data), out, 5, func(done, total int64) { last = done })
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, data) || last != int64(len(data)) {
		t.Fatalf("got %d bytes (progress %d), want %d", len(got), last, len(data))
	}
	// Each retry asked only for what was missing.
	want := []string{"", "bytes=307200-", "bytes=614400-", "bytes=921600-"}
	if fmt.Sprint(s.ranges) != fmt.Sprint(want) {
		t.Errorf("requests %q, want %q", s.ranges, want)
	}
	if _, err := os.Stat(out + ".part"); !os.IsNotExist(err) {
		t.Error("the partial file is left behind")
	}
}

// An interrupted update resumes in a later call (after a reboot) from the
// partial file, with one ranged request.
func TestDownloadResumesAcrossCalls(t *testing.T) {
	data := payload(200 << 10)
	s := &cutServer{data: data, cutAfter: 50 << 10, cuts: 1}
	srv := httptest.NewServer(s)
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "root.img")
	if err := Download(context.Background(), srv.Client(), target(srv.URL, data), out, 1, nil); err == nil {
		t.Fatal("a cut with one try allowed did not fail")
	}
	if st, err := os.Stat(out + ".part"); err != nil || st.Size() != 50<<10 {
		t.Fatalf("partial file: %v %v", st, err)
	}
	if err := Download(context.Background(), srv.Client(), target(srv.URL, data), out, 1, nil); err != nil {
		t.Fatal(err)
	}
	if s.ranges[1] != "bytes=51200-" {
		t.Errorf("second call asked %q", s.ranges[1])
	}
}

func TestDownloadRefusals(t *testing.T) {
	data := payload(64 << 10)
	for _, tc := range []struct {
		name string
		s    *cutServer
		t    func(url string) Target
		want string
	}{
		{"tampered", &cutServer{data: append([]byte("X"), data[1:]...)}, func(u string) Target { return target(u, data) }, "tampered with or damaged"},
		{"too long", &cutServer{data: data, extra: []byte("more")}, func(u string) Target { return target(u, data) }, "more than the 65536 bytes"},
		{"too short", &cutServer{data: data[:1000]}, func(u string) Target { return target(u, data) }, "connection ended at 1000 of 65536"},
		{"not found", &cutServer{data: data}, func(u string) Target { return target(u+"/missing", data) }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Handler(tc.s)
			if tc.name == "not found" {
				h = http.NotFoundHandler()
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			out := filepath.Join(t.TempDir(), "root.img")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := Download(ctx, srv.Client(), tc.t(srv.URL), out, 2, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Error("a refused download left the file in place")
			}
		})
	}
}

// A server that ignores Range answers 200: the download starts over
// rather than appending the whole file to the part it had.
func TestDownloadServerWithoutRange(t *testing.T) {
	data := payload(100 << 10)
	s := &cutServer{data: data, cutAfter: 30 << 10, cuts: 1, noRange: true}
	srv := httptest.NewServer(s)
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "root.img")
	if err := Download(context.Background(), srv.Client(), target(srv.URL, data), out, 3, nil); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

// A server that stops sending without closing the connection: the try
// ends after IdleTimeout and the next resumes.
func TestDownloadStalledServer(t *testing.T) {
	old := IdleTimeout
	IdleTimeout = 200 * time.Millisecond
	defer func() { IdleTimeout = old }()
	data := payload(100 << 10)
	stalled := false
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !stalled {
			stalled = true
			w.Header().Set("Content-Length", fmt.Sprint(len(data)))
			w.Write(data[:10<<10])
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		http.ServeContent(w, r, "x", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "root.img")
	var errs []error
	for i := 0; i < 2; i++ {
		errs = append(errs, Download(context.Background(), srv.Client(), target(srv.URL, data), out, 1, nil))
	}
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "no data for 200ms") || errs[1] != nil {
		t.Fatalf("errors %v", errs)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("wrong content")
	}
}

// A power cut can leave a partial file whose tail never reached the
// disk: resumed, it does not match; it is fetched once more from 0.
func TestDownloadTornPartialFile(t *testing.T) {
	data := payload(200 << 10)
	s := &cutServer{data: data}
	srv := httptest.NewServer(s)
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "root.img")
	torn := append(append([]byte(nil), data[:40<<10]...), make([]byte, 10<<10)...)
	os.WriteFile(out+".part", torn, 0o600)
	if err := Download(context.Background(), srv.Client(), target(srv.URL, data), out, 1, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("wrong content")
	}
	if want := []string{"bytes=51200-", ""}; fmt.Sprint(s.ranges) != fmt.Sprint(want) {
		t.Errorf("requests %q, want %q", s.ranges, want)
	}
	// A tampered file fetched afresh is still refused, and not twice.
	s.ranges = nil
	s.data = append([]byte(nil), data...)
	s.data[7] ^= 1
	os.Remove(out)
	if err := Download(context.Background(), srv.Client(), target(srv.URL, data), filepath.Join(t.TempDir(), "x"), 1, nil); err == nil || !strings.Contains(err.Error(), "tampered") || len(s.ranges) != 1 {
		t.Fatalf("%v, requests %q", err, s.ranges)
	}
}
