// Package cmdline reads the berth.* parameters of the kernel command line.
//
// The kernel passes every word it does not understand on to init, so a typo
// such as "berth.solt=B" would otherwise vanish silently; Parse reports each
// unknown berth.* word so that the console says what was ignored.
package cmdline

import (
	"fmt"
	"sort"
	"strings"
)

// Known lists the berth.* parameters and what they mean. It is the single
// source for validation and for the messages printed about unknown words.
var Known = map[string]string{
	"berth.slot":            "the root slot to boot: A or B",
	"berth.userdata":        "URL of the user-data to read (the user-data issue)",
	"berth.debug":           "1 to print more detail on the console",
	"berth.debug_shell":     "a root shell on ttyS1 (debug-shell.service); never on a machine others can reach through that port",
	"berth.modules":         "extra kernel modules to load at boot, comma separated",
	"berth.test.grow_pause": "tests only: stop growing STATE after this GPT step (backup, primary), for a power cut",
	"berth.live":            "the installer medium's live system: the root from the ISO9660 volume with this label, STATE in memory (make iso)",
	"berth.verity":          "the root's dm-verity tree, BLOCKS:ROOTHASH:SALT (the boot entry has it from the release)",
}

// Params is the parsed kernel command line.
type Params struct {
	// All holds every key=value word (a bare word maps to ""); a key given
	// twice keeps its last value, as the kernel's own parameters do.
	All map[string]string
	// Words are the words in order, each as given.
	Words []string
	// Unknown holds the berth.* keys that Known does not list, sorted.
	Unknown []string
}

// Parse splits a kernel command line as the kernel does: words separated
// by white space, double quotes group a value containing spaces.
func Parse(line string) Params {
	p := Params{All: map[string]string{}, Words: split(line)}
	for _, w := range p.Words {
		k, v, _ := strings.Cut(w, "=")
		p.All[k] = v
		if strings.HasPrefix(k, "berth.") {
			if _, ok := Known[k]; !ok {
				p.Unknown = append(p.Unknown, k)
			}
		}
	}
	sort.Strings(p.Unknown)
	return p
}

// Get returns the value of key and whether it was present.
func (p Params) Get(key string) (string, bool) {
	v, ok := p.All[key]
	return v, ok
}

// Has reports whether word is on the command line, as systemd's
// ConditionKernelCommandLine= asks: some word is exactly it, or, for a
// word without "=", some word is it with a value.
func (p Params) Has(word string) bool {
	for _, w := range p.Words {
		if w == word || (!strings.Contains(word, "=") && strings.HasPrefix(w, word+"=")) {
			return true
		}
	}
	return false
}

// List returns a comma-separated value as its non-empty items.
func (p Params) List(key string) []string {
	var out []string
	for _, s := range strings.Split(p.All[key], ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Slot returns the validated berth.slot value, "A" or "B".
func (p Params) Slot() (string, error) {
	v, ok := p.All["berth.slot"]
	if !ok {
		return "", fmt.Errorf("kernel command line: berth.slot is missing: add berth.slot=A or berth.slot=B")
	}
	switch strings.ToUpper(v) {
	case "A", "B":
		return strings.ToUpper(v), nil
	}
	return "", fmt.Errorf("kernel command line: berth.slot=%q is not a slot: use A or B", v)
}

// UnknownMessages returns one console line per unknown berth.* word.
func (p Params) UnknownMessages() []string {
	var out []string
	for _, k := range p.Unknown {
		out = append(out, fmt.Sprintf("kernel command line: unknown parameter %q ignored (known: %s)", k, knownList()))
	}
	return out
}

func knownList() string {
	keys := make([]string, 0, len(Known))
	for k := range Known {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func split(line string) []string {
	var words []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range line {
		switch {
		case r == '"':
			inQuote = !inQuote
			have = true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			if have {
				words = append(words, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		words = append(words, cur.String())
	}
	return words
}

// Live returns berth.live's volume label when this boot is the installer
// medium's live system.
func (p Params) Live() (label string, ok bool) {
	v, ok := p.All["berth.live"]
	return v, ok && v != ""
}
