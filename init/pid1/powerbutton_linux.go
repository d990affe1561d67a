package pid1

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Linux input event constants (linux/input-event-codes.h).
const (
	evKey     = 0x01
	keyPower  = 116
	eventSize = 24 // struct input_event on 64-bit: timeval, type, code, value
)

// watchPowerButton calls press when an ACPI power button (QEMU's
// system_powerdown) is pressed. Without acpid or logind nobody else turns
// that key into a shutdown. The devices appear once the button and evdev
// modules are loaded (evdev by hotplug, once the button's input device is
// announced), so it looks for a while after the coldplug before giving up.
func (p *pid1) watchPowerButton(press func()) {
	<-p.drivers
	var devs []string
	for i := 0; i < 50 && len(devs) == 0; i++ {
		devs = powerButtons()
		if len(devs) == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if len(devs) == 0 {
		p.log.Printf("power button: no input device named \"Power Button\"; ACPI power-off requests will be ignored")
		return
	}
	// Open every device before saying so: a press while nobody holds
	// the device open is lost.
	var open []string
	for _, d := range devs {
		f, err := openSoon(d)
		if err != nil {
			p.log.Printf("power button: %v", err)
			continue
		}
		open = append(open, d)
		p.goSafe("power button "+d, func() { readButton(f, press) })
	}
	if len(open) > 0 {
		p.log.Printf("power button: watching %s", strings.Join(open, " "))
	}
}

func powerButtons() []string {
	var out []string
	names, _ := filepath.Glob("/sys/class/input/event*/device/name")
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil || strings.TrimSpace(string(b)) != "Power Button" {
			continue
		}
		ev := filepath.Base(filepath.Dir(filepath.Dir(n)))
		out = append(out, "/dev/input/"+ev)
	}
	return out
}

func readButton(f *os.File, press func()) {
	defer f.Close()
	buf := make([]byte, eventSize)
	for {
		if _, err := f.Read(buf); err != nil {
			return
		}
		typ := binary.LittleEndian.Uint16(buf[16:])
		code := binary.LittleEndian.Uint16(buf[18:])
		val := int32(binary.LittleEndian.Uint32(buf[20:]))
		if typ == evKey && code == keyPower && val == 1 {
			press()
		}
	}
}

// openSoon opens a device node that sysfs already announced but devtmpfs
// may not have created yet.
func openSoon(dev string) (*os.File, error) {
	for i := 0; ; i++ {
		f, err := os.Open(dev)
		if err == nil || !os.IsNotExist(err) || i == 50 {
			return f, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
