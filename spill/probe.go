package spill

import (
	"bytes"
	"fmt"
)

// probeBlock is what Probe writes and reads back: a block the size of a
// small record, so a filesystem that cannot take one fails the probe.
var probeBlock = bytes.Repeat([]byte("spillbench probe\n"), 16)

// Probe checks, before the first spill needs it, that the spill directory
// takes a spill file: it creates a temp file there as the spill file would
// be created, writes a block, reads it back, and closes and removes the
// file, every call through the FS seam at [SiteDirProbe]. A permission
// problem, a read-only or full filesystem, or a directory that is gone
// then shows when the caller chooses (the reference probes at transfer
// start), not in the middle of a run. A failure is an [*IOError] naming
// the directory; Probe leaves no file behind either way.
//
// Probe does nothing for an in-memory-only buffer. Without Policy.Dir it
// probes the temp directory the spill file would go to.
func (b *Buffer[T]) Probe() (err error) {
	switch {
	case b.closed:
		return ErrClosed
	case b.policy.InMemoryOnly:
		return nil
	}
	fail := func(off int64, err error) error {
		return &IOError{Site: SiteDirProbe, Path: b.path, Offset: off, Err: err}
	}
	f, name, err := b.fs.CreateTemp(SiteDirProbe, b.path)
	if err != nil {
		return fail(-1, err)
	}
	defer func() {
		if cerr := f.Close(SiteDirProbe); cerr != nil && err == nil {
			err = fail(-1, cerr)
		}
		if name == "" {
			return
		}
		if rerr := b.fs.Remove(SiteDirProbe, name); rerr != nil && err == nil {
			err = fail(-1, rerr)
		}
	}()
	if _, err := f.WriteAt(SiteDirProbe, probeBlock, 0); err != nil {
		return fail(0, err)
	}
	back := make([]byte, len(probeBlock))
	if _, err := f.ReadAt(SiteDirProbe, back, 0); err != nil {
		return fail(0, err)
	}
	if !bytes.Equal(back, probeBlock) {
		return fail(0, fmt.Errorf("probe file read back %d bytes unlike the %d written", len(back), len(probeBlock)))
	}
	return nil
}
