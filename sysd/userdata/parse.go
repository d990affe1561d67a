package userdata

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxSize bounds user-data after decompression (cloud-init's limit is
// similar): a gzip bomb must not fill memory.
const maxSize = 16 << 20

// maxCloudConfig bounds one #cloud-config document: its YAML tree takes
// about a hundred times its size in memory (2 MiB took over 200 MiB),
// which a 512 MiB machine cannot spare before its services start. GCE's
// metadata allow the same 256 KiB; EC2's user-data 16 KiB.
const maxCloudConfig = 256 << 10

// Parse reads user-data from source (a name used in messages) into c,
// which may already hold earlier parts; later values replace earlier ones.
func Parse(source string, data []byte, c *Config) Diagnostics {
	var ds Diagnostics
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err == nil {
			data, err = io.ReadAll(io.LimitReader(zr, maxSize+1))
		}
		if err != nil {
			return Diagnostics{{File: source, Msg: "gzip: " + err.Error()}}
		}
		if len(data) > maxSize {
			return Diagnostics{{File: source, Msg: fmt.Sprintf("larger than %d MiB uncompressed", maxSize>>20)}}
		}
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return nil
	case bytes.HasPrefix(trimmed, []byte("#cloud-config")):
		return parseCloudConfig(source, data, c)
	case bytes.HasPrefix(trimmed, []byte("#!")):
		c.Scripts = append(c.Scripts, Script{Name: source, Content: data})
		c.Parts = append(c.Parts, Part{Source: source, Type: "x-shellscript"})
		return nil
	case isMIME(trimmed):
		return parseMIME(source, trimmed, c)
	case bytes.HasPrefix(trimmed, []byte("#cloud-boothook")), bytes.HasPrefix(trimmed, []byte("#include")):
		line, _, _ := bytes.Cut(trimmed, []byte("\n"))
		return Diagnostics{{File: source, Line: 1, Msg: fmt.Sprintf("%q user-data is not supported by Berth", line), Fix: "use #cloud-config or a #! script", Warning: true}}
	}
	ds = append(ds, Diagnostic{File: source, Line: 1, Msg: "not user-data Berth knows",
		Fix: "start it with #cloud-config or #!, or send gzip or MIME multi-part"})
	return ds
}

func isMIME(b []byte) bool {
	head := strings.ToLower(string(b[:min(len(b), 4096)]))
	return strings.HasPrefix(head, "content-type:") || strings.HasPrefix(head, "mime-version:")
}

// parseMIME reads cloud-init's multi-part format (`cloud-init devel
// make-mime`): each part by its Content-Type.
func parseMIME(source string, data []byte, c *Config) Diagnostics {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return Diagnostics{{File: source, Msg: "MIME: " + err.Error()}}
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		body, _ := io.ReadAll(msg.Body)
		return part(source, mt, body, c)
	}
	var ds Diagnostics
	r := multipart.NewReader(msg.Body, params["boundary"])
	for i := 1; ; i++ {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return append(ds, Diagnostic{File: source, Msg: fmt.Sprintf("MIME part %d: %v", i, err)})
		}
		body, err := io.ReadAll(io.LimitReader(p, maxSize))
		if err != nil {
			return append(ds, Diagnostic{File: source, Msg: fmt.Sprintf("MIME part %d: %v", i, err)})
		}
		if p.Header.Get("Content-Transfer-Encoding") == "base64" {
			body = decodeBase64(body)
		}
		name := p.FileName()
		if name == "" {
			name = fmt.Sprintf("part-%d", i)
		}
		pmt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		ds = append(ds, part(source+"["+name+"]", pmt, body, c)...)
	}
	return ds
}

func part(source, mt string, body []byte, c *Config) Diagnostics {
	switch mt {
	case "text/cloud-config", "text/cloud-config-jsonp":
		if !bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("#cloud-config")) {
			body = append([]byte("#cloud-config\n"), body...)
			ds := parseCloudConfig(source, body, c)
			for i := range ds { // the line we added is not the user's
				if ds[i].Line > 0 {
					ds[i].Line--
				}
			}
			return ds
		}
		return parseCloudConfig(source, body, c)
	case "text/x-shellscript":
		c.Scripts = append(c.Scripts, Script{Name: source, Content: body})
		c.Parts = append(c.Parts, Part{Source: source, Type: "x-shellscript"})
		return nil
	}
	return Parse(source, body, c)
}

// parseCloudConfig reads #cloud-config YAML, key by key.
func parseCloudConfig(source string, data []byte, c *Config) Diagnostics {
	if len(data) > maxCloudConfig {
		return Diagnostics{{File: source, Msg: fmt.Sprintf("#cloud-config of %d KiB is larger than %d KiB (nothing of this part was applied)", len(data)>>10, maxCloudConfig>>10),
			Fix: "put large content in a #! script or a MIME part, or fetch it in runcmd"}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Diagnostics{yamlError(source, err)}
	}
	p := &parser{source: source}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			return nil
		}
		return Diagnostics{{File: source, Line: root.Line, Msg: "#cloud-config must be a mapping of keys to values", Fix: "write key: value lines"}}
	}
	p.fields(root, "", schema(c), unsupportedTop)
	part := Part{Source: source, Type: "cloud-config"}
	for i := 0; i+1 < len(root.Content); i += 2 {
		part.Keys = append(part.Keys, root.Content[i].Value)
	}
	c.Parts = append(c.Parts, part)
	return p.ds
}

// yamlError turns the YAML library's message ("yaml: line 3: …") into one
// diagnostic with its line.
func yamlError(source string, err error) Diagnostic {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		n, after, _ := strings.Cut(rest, ":")
		fmt.Sscan(n, &line)
		msg = strings.TrimSpace(after)
	}
	return Diagnostic{File: source, Line: line, Msg: "invalid YAML: " + msg, Fix: "nothing of this part was applied"}
}
