package userdata

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"io"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

func (p *parser) writeFile(n *yaml.Node, path string) (WriteFile, bool) {
	f := WriteFile{Permissions: 0o644, Owner: "root:root"}
	var content, encoding string
	var contentNode *yaml.Node
	good := true
	p.fields(n, path, map[string]handler{
		"path": func(p *parser, n *yaml.Node, path string) {
			if s, ok := p.str(n, path); ok {
				if !strings.HasPrefix(s, "/") {
					p.errorf(n, path, "give an absolute path", "%q is not absolute", s)
					good = false
					return
				}
				f.Path = s
			}
		},
		"content": func(p *parser, n *yaml.Node, path string) {
			content, _ = p.str(n, path)
			contentNode = n
		},
		"encoding": func(p *parser, n *yaml.Node, path string) {
			if s, ok := p.str(n, path); ok {
				switch s {
				case "b64", "base64", "gzip", "gz", "gz+b64", "gz+base64", "gzip+b64", "gzip+base64", "text/plain":
					encoding = s
				default:
					p.errorf(n, path, "b64, gzip or gz+b64", "unknown encoding %q", s)
					good = false
				}
			}
		},
		"permissions": func(p *parser, n *yaml.Node, path string) {
			if s, ok := p.str(n, path); ok {
				m, err := strconv.ParseUint(s, 8, 32)
				if err != nil || m > 0o7777 {
					p.errorf(n, path, "write it in octal, e.g. '0644'", "%q is not a file mode", s)
					good = false
					return
				}
				f.Permissions = uint32(m)
			}
		},
		"owner":  setStr(&f.Owner),
		"append": setBool(&f.Append),
		"defer":  setBool(&f.Defer),
	}, map[string]string{"source": "fetching content from a URL is not supported: inline it"})
	if f.Path == "" {
		if good {
			p.errorf(n, path+".path", "add path: /ABSOLUTE/PATH", "a file needs a path")
		}
		return f, false
	}
	data, err := decode(content, encoding)
	if err != nil {
		at := n
		if contentNode != nil {
			at = contentNode
		}
		p.errorf(at, path+".content", "", "cannot decode as %s: %v", encoding, err)
		return f, false
	}
	f.Content = data
	return f, good
}

// decode undoes write_files' encodings.
func decode(s, enc string) ([]byte, error) {
	data := []byte(s)
	if strings.Contains(enc, "b64") || strings.Contains(enc, "base64") {
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return nil, err
		}
		data = b
	}
	if strings.HasPrefix(enc, "gz") {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(io.LimitReader(zr, maxSize))
	}
	return data, nil
}

func decodeBase64(b []byte) []byte {
	out, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
	if err != nil {
		return b
	}
	return out
}
