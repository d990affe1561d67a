package wire

// Hardware is GET /v1/hardware: what `os-ctl hw` shows.
type Hardware struct {
	Devices []Device `json:"devices"`
	// Firmware lists the firmware files drivers asked for and this image
	// does not have, as the kernel reported them.
	Firmware []string `json:"firmware_missing,omitempty"`
}

// Device is one device the kernel lists, with the driver bound to it.
type Device struct {
	Path     string `json:"path"` // below /sys
	Bus      string `json:"bus"`
	Modalias string `json:"modalias,omitempty"`
	Driver   string `json:"driver,omitempty"`
	Class    bool   `json:"class,omitempty"` // a class device (input): handlers attach, no driver binds
	// Names are the network interfaces and block devices it provides.
	Names []string `json:"names,omitempty"`
	// Modules are the modules whose aliases match it: for an unclaimed
	// device, the ones that were loaded and did not bind to it.
	Modules []string `json:"modules,omitempty"`
}

// Unclaimed says whether the device has an alias but no driver.
func (d Device) Unclaimed() bool { return !d.Class && d.Modalias != "" && d.Driver == "" }
