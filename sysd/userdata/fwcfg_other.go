//go:build !(linux && amd64)

package userdata

import "errors"

// FwCfgPorts is only for x86 Linux; elsewhere the qemu_fw_cfg module's
// sysfs files are read.
func FwCfgPorts(names ...string) (map[string][]byte, error) {
	return nil, errors.New("fw_cfg: no I/O ports on this machine")
}
