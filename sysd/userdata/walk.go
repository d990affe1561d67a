package userdata

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"berth.dev/berth/sysd/unit"
)

// parser walks YAML nodes and collects diagnostics.
type parser struct {
	source string
	ds     Diagnostics
}

func (p *parser) errorf(n *yaml.Node, key, fix, format string, args ...any) {
	p.ds = append(p.ds, Diagnostic{File: p.source, Line: n.Line, Key: key, Msg: fmt.Sprintf(format, args...), Fix: fix})
}

func (p *parser) warnf(n *yaml.Node, key, fix, format string, args ...any) {
	p.ds = append(p.ds, Diagnostic{File: p.source, Line: n.Line, Key: key, Msg: fmt.Sprintf(format, args...), Fix: fix, Warning: true})
}

// handler reads the value of one key; path names it in messages
// ("users[1].name").
type handler func(p *parser, n *yaml.Node, path string)

// fields walks a mapping, calling the handler of each known key and
// reporting the others; unsupported are keys Berth knows but does not do.
func (p *parser) fields(n *yaml.Node, path string, known map[string]handler, unsupported map[string]string) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "", "want a mapping of keys to values, got %s", kind(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		full := join(path, name)
		if h, ok := known[name]; ok {
			h(p, v, full)
			continue
		}
		if why, ok := unsupported[name]; ok {
			p.warnf(k, full, "", "not supported by Berth: %s", why)
			continue
		}
		fix := ""
		if s := unit.Suggest(name, keys(known)); s != "" {
			fix = "did you mean " + join(path, s) + "?"
		}
		p.warnf(k, full, fix, "unknown key, ignored")
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func keys(m map[string]handler) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing"
		case "!!bool":
			return "a boolean"
		case "!!int", "!!float":
			return "a number"
		}
		return "a string"
	case yaml.AliasNode:
		return kind(n.Alias)
	}
	return "something else"
}

// setStr is the handler of a string key: the value goes to dst, which
// keeps what it held when the value is not a string.
func setStr(dst *string) handler {
	return func(p *parser, n *yaml.Node, path string) {
		if s, ok := p.str(n, path); ok {
			*dst = s
		}
	}
}

// setDuration is setStr for a Go duration ("90s", "6h").
func setDuration(dst *string) handler {
	return func(p *parser, n *yaml.Node, path string) {
		if s, ok := p.str(n, path); ok {
			if d, err := time.ParseDuration(s); err != nil || d <= 0 {
				p.errorf(n, path, "write a duration such as 90s, 10m or 6h", "%q is not a duration", s)
				return
			}
			*dst = s
		}
	}
}

// setIntIn is setStr for a whole number from lo to hi; what names it in
// the error, fix says what to write.
func setIntIn(dst *int, lo, hi int, what, fix string) handler {
	return func(p *parser, n *yaml.Node, path string) {
		if v, ok := p.integer(n, path); ok {
			if v < lo || v > hi {
				p.errorf(n, path, fix, "%s %d is out of range", what, v)
				return
			}
			*dst = v
		}
	}
}

// setBool is setStr for a boolean key.
func setBool(dst *bool) handler {
	return func(p *parser, n *yaml.Node, path string) {
		if b, ok := p.boolean(n, path); ok {
			*dst = b
		}
	}
}

// str reads a scalar (numbers and booleans are taken as written).
func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, path, "", "want a string, got %s", kind(n))
		return "", false
	}
	return n.Value, true
}

// strs reads a list of strings; a single string is a list of one, and a
// comma-separated string (as cloud-init allows for groups) is split.
func (p *parser) strs(n *yaml.Node, path string, commas bool) ([]string, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		if commas {
			var out []string
			for _, s := range strings.Split(n.Value, ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
			return out, true
		}
		return []string{n.Value}, true
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "", "want a list of strings, got %s", kind(n))
		return nil, false
	}
	var out []string
	for i, item := range n.Content {
		s, ok := p.str(item, fmt.Sprintf("%s[%d]", path, i))
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// boolean reads YAML's true/false (and cloud-init's yes/no, on/off).
func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "true", "yes", "on", "1":
			return true, true
		case "false", "no", "off", "0":
			return false, true
		}
	}
	p.errorf(n, path, "write true or false", "want a boolean, got %s %q", kind(n), n.Value)
	return false, false
}

func (p *parser) integer(n *yaml.Node, path string) (int, bool) {
	if n.Kind == yaml.ScalarNode {
		if v, err := strconv.Atoi(n.Value); err == nil {
			return v, true
		}
	}
	p.errorf(n, path, "", "want a whole number, got %s %q", kind(n), n.Value)
	return 0, false
}

// commands reads bootcmd/runcmd: each entry a shell line or a list of
// arguments.
func (p *parser) commands(n *yaml.Node, path string) ([]Command, bool) {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "", "want a list of commands, got %s", kind(n))
		return nil, false
	}
	var out []Command
	for i, item := range n.Content {
		ipath := fmt.Sprintf("%s[%d]", path, i)
		switch item.Kind {
		case yaml.ScalarNode:
			out = append(out, Command{Shell: item.Value})
		case yaml.SequenceNode:
			args, ok := p.strs(item, ipath, false)
			if !ok {
				return nil, false
			}
			out = append(out, Command{Args: args})
		default:
			p.errorf(item, ipath, "", "want a command (a string or a list of arguments), got %s", kind(item))
			return nil, false
		}
	}
	return out, true
}

// list calls each for every item of a sequence.
func (p *parser) list(n *yaml.Node, path string, each func(item *yaml.Node, path string)) {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "", "want a list, got %s", kind(n))
		return
	}
	for i, item := range n.Content {
		each(item, fmt.Sprintf("%s[%d]", path, i))
	}
}
