package update

import (
	"encoding/json"
	"testing"
)

// Boot entries are files on the ESP (FAT: torn writes happen); release
// metadata come from the repository, after TUF has checked their hashes
// but not their sense.
func FuzzParseBootEntry(f *testing.F) {
	f.Add("title Berth 0.1.0 (slot A)\nversion 0.1.0\nlinux /berth/A/vmlinuz\ninitrd /berth/A/initrd.img\noptions console=ttyS0 berth.slot=A\nsort-key berth-1\n")
	f.Fuzz(func(t *testing.T, content string) {
		ParseBootEntry("/loader/entries/berth-a.conf", content)
	})
}

func FuzzRelease(f *testing.F) {
	f.Add([]byte(`{"version":"0.2.0","architecture":"amd64","parts":{"root.img":{"size":1,"sha256":"00"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Release
		if json.Unmarshal(b, &r) == nil {
			Allowed("0.1.0", r.Version, false)
			Newer(r.Version, "0.1.0")
		}
		ParseStrategy(string(b))
	})
}
