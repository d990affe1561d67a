package wire

import "time"

// Net is GET /v1/network: what `os-ctl net` shows.
type Net struct {
	Online bool     `json:"online"`
	Links  []Link   `json:"links"`
	Routes []string `json:"routes"`
	DNS    []string `json:"dns,omitempty"`
	Search []string `json:"search,omitempty"`
}

// Link is one interface.
type Link struct {
	Name      string   `json:"name"`
	MAC       string   `json:"mac,omitempty"`
	Up        bool     `json:"up"`
	Carrier   bool     `json:"carrier"`
	MTU       int      `json:"mtu"`
	Addresses []string `json:"addresses,omitempty"`
	Mode      string   `json:"mode"` // dhcp, static, static+dhcp, loopback, unmanaged
	Lease     *Lease   `json:"lease,omitempty"`
}

// Lease is a DHCP lease as shown.
type Lease struct {
	Address string    `json:"address"`
	Server  string    `json:"server"`
	Router  string    `json:"router,omitempty"`
	DNS     []string  `json:"dns,omitempty"`
	Start   time.Time `json:"start"`
	Expires time.Time `json:"expires"`
	State   string    `json:"state"` // bound, renewing, rebinding
}
