// Package layout is the one place Berth's disk layout is written: the GPT
// partitions with their labels and sizes, the ESP's paths, and the kernel
// command line every boot entry carries. The image builder, stage 1, sysd
// and the updater all read it from here.
package layout

import "fmt"

// Partition labels are how init and the updater find the partitions; the
// sizes leave room for later releases.
const (
	SectorSize = 512
	MiB        = 1 << 20

	LabelESP   = "ESP"
	LabelRootA = "ROOT-A"
	LabelRootB = "ROOT-B"
	LabelState = "STATE"
)

// RootLabel is the label of a slot's root partition ("A" → ROOT-A).
func RootLabel(slot string) string { return "ROOT-" + slot }

// Partition is one GPT entry of the image.
type Partition struct {
	Num    int
	Label  string
	Type   string // sgdisk type code
	GUID   string // fixed, so the disk is reproducible
	SizeMB int64
}

// Layout lists the partitions in disk order.
var Layout = []Partition{
	{1, LabelESP, "ef00", "b3c1e1a0-0001-4b1e-8e27-000000000001", 128},
	{2, LabelRootA, "8304", "b3c1e1a0-0002-4b1e-8e27-000000000002", 768},
	{3, LabelRootB, "8304", "b3c1e1a0-0003-4b1e-8e27-000000000003", 768},
	{4, LabelState, "8300", "b3c1e1a0-0004-4b1e-8e27-000000000004", 2048},
}

// DiskGUID is the image's GPT disk GUID.
const DiskGUID = "b3c1e1a0-0000-4b1e-8e27-000000000000"

// Extent is where a partition sits, in sectors.
type Extent struct{ Start, End int64 } // End inclusive

// Offset and Size are in bytes.
func (e Extent) Offset() int64 { return e.Start * SectorSize }
func (e Extent) Size() int64   { return (e.End - e.Start + 1) * SectorSize }

// Plan places the partitions 1 MiB aligned, after a 1 MiB gap, and returns
// the extents and the disk size (with 1 MiB at the end for the backup GPT).
func Plan(parts []Partition) (map[string]Extent, int64) {
	out := map[string]Extent{}
	start := int64(MiB / SectorSize)
	for _, p := range parts {
		n := p.SizeMB * MiB / SectorSize
		out[p.Label] = Extent{start, start + n - 1}
		start += n
	}
	return out, start*SectorSize + MiB
}

// SgdiskArgs returns the sgdisk arguments that write the layout.
func SgdiskArgs(parts []Partition, ext map[string]Extent) []string {
	args := []string{"-o", "-U", DiskGUID}
	for _, p := range parts {
		e := ext[p.Label]
		args = append(args,
			"-n", fmt.Sprintf("%d:%d:%d", p.Num, e.Start, e.End),
			"-t", fmt.Sprintf("%d:%s", p.Num, p.Type),
			"-c", fmt.Sprintf("%d:%s", p.Num, p.Label),
			"-u", fmt.Sprintf("%d:%s", p.Num, p.GUID))
	}
	return args
}

// SysdPath is sysd's binary on the root: the image builder puts it there,
// stage 1 reads it ahead, PID 1 starts it, and it is os-ctl in the
// admin containers.
const SysdPath = "/usr/lib/berth/sysd"
