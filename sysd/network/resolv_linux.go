package network

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"berth.dev/berth/internal/atomicfile"
)

// writeResolvConf writes static DNS first, then DHCP's, and the search
// domains.
func (m *Manager) writeResolvConf() {
	if m.ResolvConf == "" {
		return
	}
	dns, search := m.dns()
	var b strings.Builder
	b.WriteString("# Written by sysd from user-data (berth.network) and DHCP.\n")
	for _, ns := range dns {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if old, _ := os.ReadFile(m.ResolvConf); string(old) == b.String() {
		return
	}
	if err := atomicfile.Write(m.ResolvConf, []byte(b.String()), 0o644); err != nil {
		m.Logf("network: %v", err)
	}
}

func (m *Manager) dns() (dns, search []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	add := func(l *[]string, v ...string) {
		for _, x := range v {
			if !seen[x] {
				seen[x] = true
				*l = append(*l, x)
			}
		}
	}
	names := make([]string, 0, len(m.links))
	for n := range m.links {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if c := m.links[n].cfg; c != nil {
			add(&dns, c.DNS...)
			add(&search, c.Search...)
		}
	}
	for _, n := range names {
		add(&dns, m.links[n].dhcpDNS...)
		add(&search, m.links[n].dhcpSearch...)
	}
	return dns, search
}
