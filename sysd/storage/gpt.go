// Package storage grows the STATE partition, and its ext4, into the rest
// of the disk: a disk bigger than the image, or one grown later.
package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"

	"github.com/u-root/u-root/pkg/mount/gpt"
)

// align is where a grown partition ends: a whole MiB, as the image's
// partitions are laid out (internal/layout).
const align = 1 << 20 / gpt.BlockSize

// Plan returns the partition tables of a disk of sectors 512-byte sectors
// after its entry idx has grown to the last whole MiB before the backup
// table, and the backup table has moved to the disk's end; cur is a valid
// copy of the table (primary or backup). changed is false when the disk
// is already so: the plan is what a finished run leaves, so running it
// again after a cut gives the same tables.
func Plan(cur *gpt.GPT, idx int, sectors uint64) (primary, backup *gpt.GPT, changed bool, err error) {
	if idx < 0 || idx >= len(cur.Parts) {
		return nil, nil, false, fmt.Errorf("partition %d: the table has %d entries", idx+1, len(cur.Parts))
	}
	entrySectors := (uint64(cur.NPart)*uint64(cur.PartSize) + gpt.BlockSize - 1) / gpt.BlockSize
	if sectors < 2*entrySectors+3 {
		return nil, nil, false, fmt.Errorf("a disk of %d sectors cannot hold a GPT", sectors)
	}
	last := sectors - 1
	usableLast := last - entrySectors - 1
	p := cur.Parts[idx]
	for i, q := range cur.Parts {
		if i != idx && q.FirstLBA > p.FirstLBA {
			return nil, nil, false, fmt.Errorf("partition %d is not the last on the disk (partition %d starts after it)", idx+1, i+1)
		}
	}
	if p.LastLBA > usableLast {
		return nil, nil, false, fmt.Errorf("partition %d ends at sector %d, past the disk's last usable sector %d: the disk is smaller than its table says", idx+1, p.LastLBA, usableLast)
	}
	end := (usableLast+1)/align*align - 1
	end = max(end, p.LastLBA) // never shrink

	primary = &gpt.GPT{Header: cur.Header, Parts: append([]gpt.Part(nil), cur.Parts...)}
	primary.CurrentLBA, primary.BackupLBA, primary.PartStart = 1, last, 2
	primary.LastLBA = usableLast
	primary.Parts[idx].LastLBA = end
	backup = &gpt.GPT{Header: primary.Header, Parts: primary.Parts}
	backup.CurrentLBA, backup.BackupLBA, backup.PartStart = last, 1, last-entrySectors

	changed = end != p.LastLBA || cur.LastLBA != usableLast ||
		(cur.CurrentLBA == 1 && cur.BackupLBA != last) || (cur.CurrentLBA != 1 && cur.CurrentLBA != last)
	return primary, backup, changed, nil
}

// Encode returns the bytes of g's entry array and its header sector, with
// their CRCs; they go at g.PartStart and g.CurrentLBA.
func Encode(g *gpt.GPT) (entries, header []byte, err error) {
	if uint32(len(g.Parts)) != g.NPart || g.PartSize < 128 {
		return nil, nil, errors.New("encode GPT: entries do not match the header")
	}
	entries = make([]byte, (uint64(g.NPart)*uint64(g.PartSize)+gpt.BlockSize-1)/gpt.BlockSize*gpt.BlockSize)
	for i := range g.Parts {
		var b bytes.Buffer
		if err := binary.Write(&b, binary.LittleEndian, &g.Parts[i]); err != nil {
			return nil, nil, err
		}
		copy(entries[i*int(g.PartSize):], b.Bytes())
	}
	h := g.Header
	h.PartCRC = crc32.ChecksumIEEE(entries[:uint64(g.NPart)*uint64(g.PartSize)])
	h.CRC = 0
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, &h); err != nil {
		return nil, nil, err
	}
	header = make([]byte, gpt.BlockSize)
	copy(header, b.Bytes())
	binary.LittleEndian.PutUint32(header[16:], crc32.ChecksumIEEE(header[:h.HeaderSize]))
	return entries, header, nil
}

// WriteTable writes g's entries, then its header, and syncs the disk.
func WriteTable(f *os.File, g *gpt.GPT) error {
	entries, header, err := Encode(g)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(entries, int64(g.PartStart)*gpt.BlockSize); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if _, err := f.WriteAt(header, int64(g.CurrentLBA)*gpt.BlockSize); err != nil {
		return err
	}
	return f.Sync()
}
