package machine

import "github.com/containerd/go-dmverity/pkg/dm"

// VerityStatus is the verity target's status line of the named
// device-mapper device.
func VerityStatus(name string) (string, error) {
	c, err := dm.Open()
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.TableStatus(name, false)
}
