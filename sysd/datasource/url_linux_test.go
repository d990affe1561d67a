package datasource

import "testing"

func TestURL(t *testing.T) {
	for _, tc := range []struct {
		line, url string
		nocloud   bool
	}{
		{"console=ttyS0 berth.slot=A", "", false},
		{"berth.slot=A ds=nocloud;s=http://10.0.2.2:8000/seed/ quiet", "http://10.0.2.2:8000/seed/", true},
		{"ds=nocloud-net;s=http://h/", "http://h/", true},
		{"ds=ec2", "", false},
		{"berth.userdata=http://h/user-data", "http://h/user-data", false},
		{"ds=nocloud;s=http://a/ berth.userdata=http://b/ud", "http://b/ud", false},
		{"berth.userdata=http://b/ud ds=nocloud;s=http://a/", "http://a/", true},
	} {
		url, nocloud := URL(tc.line)
		if url != tc.url || nocloud != tc.nocloud {
			t.Errorf("%q: %q %v, want %q %v", tc.line, url, nocloud, tc.url, tc.nocloud)
		}
	}
}
