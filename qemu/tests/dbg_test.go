package tests

import (
	"testing"
	"time"

	"berth.dev/berth/qemu"
)

func TestDebugBoot(t *testing.T) {
	b := qemu.FindBuild(t)
	vm := qemu.StartT(t, direct(b, "A"))
	vm.Expect(`^berth: memory`, bootTimeout)
	for _, l := range vm.Console.Lines() {
		t.Logf("%6.2fs %s", l.At.Sub(vm.Started()).Seconds(), l.Text)
	}
	vm.Powerdown()
	vm.Wait(30 * time.Second)
	for _, l := range vm.Console.Lines() {
		t.Logf("%6.2fs %s", l.At.Sub(vm.Started()).Seconds(), l.Text)
	}
}
