package userdata

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

func outw(port uint16, val uint16)
func inb(port uint16) uint8

// QEMU's fw_cfg on x86: a 16-bit selector port and an 8-bit data port
// (docs/specs/fw_cfg.rst in QEMU).
const (
	fwCfgSelector = 0x510
	fwCfgData     = 0x511
	fwCfgSig      = 0x0000
	fwCfgDir      = 0x0019
)

// FwCfgPorts reads the named fw_cfg files through the I/O ports, without
// the qemu_fw_cfg module (whose loading costs hundreds of milliseconds
// under emulation). Call it only on QEMU: the ports mean something else
// on other machines. A name that is absent is left out of the map.
func FwCfgPorts(names ...string) (map[string][]byte, error) {
	// I/O permissions belong to the thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Ioperm(fwCfgSelector, 2, 1); err != nil {
		return nil, fmt.Errorf("fw_cfg: ioperm: %w", err)
	}
	defer unix.Ioperm(fwCfgSelector, 2, 0)
	read := func(key uint16, n int) []byte {
		outw(fwCfgSelector, key)
		b := make([]byte, n)
		for i := range b {
			b[i] = inb(fwCfgData)
		}
		return b
	}
	if string(read(fwCfgSig, 4)) != "QEMU" {
		return nil, fmt.Errorf("fw_cfg: no QEMU signature")
	}
	outw(fwCfgSelector, fwCfgDir)
	var hdr [4]byte
	for i := range hdr {
		hdr[i] = inb(fwCfgData)
	}
	count := binary.BigEndian.Uint32(hdr[:])
	if count > 4096 {
		return nil, fmt.Errorf("fw_cfg: %d directory entries", count)
	}
	type entry struct {
		size uint32
		key  uint16
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	found := map[string]entry{}
	for i := uint32(0); i < count; i++ {
		var e [64]byte
		for j := range e {
			e[j] = inb(fwCfgData)
		}
		name := strings.TrimRight(string(e[8:]), "\x00")
		if want[name] {
			found[name] = entry{binary.BigEndian.Uint32(e[0:4]), binary.BigEndian.Uint16(e[4:6])}
		}
	}
	out := map[string][]byte{}
	for name, e := range found {
		if e.size > maxSize {
			return nil, fmt.Errorf("fw_cfg: %s is %d bytes", name, e.size)
		}
		out[name] = read(e.key, int(e.size))
	}
	return out, nil
}
