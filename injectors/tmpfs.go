package injectors

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/spill"
)

// mountOn mounts fstype on a new directory under dir and registers the
// unmount (lazy if busy), which runs before the directory's removal.
func mountOn(o *owned, dir, source, fstype string, flags uintptr, data string) (string, error) {
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		return "", err
	}
	if err := unix.Mount(source, mnt, fstype, flags, data); err != nil {
		return "", fmt.Errorf("mount %s on %s: %w", fstype, mnt, err)
	}
	o.add("mount", mnt, func() error { return unmount(mnt) })
	return mnt, nil
}

// Tmpfs is the tmpfs size-cap mechanism: the spill directory is the root of
// a private tmpfs mount. In enospc mode the mount is capped at
// Fault.AfterBytes (rounded up to a page), so write(2) itself returns
// ENOSPC; in inodes mode it is capped at one inode, the root's, so creating
// the spill file fails with ENOSPC.
type Tmpfs struct {
	owned
	log Log
	mnt string
	obs *observer
}

// NewTmpfs returns the tmpfs mechanism.
func NewTmpfs() *Tmpfs { return &Tmpfs{} }

func (*Tmpfs) Name() string   { return "tmpfs" }
func (*Tmpfs) Family() Family { return Kernel }
func (*Tmpfs) Modes() []Mode  { return []Mode{ModeENOSPC, ModeInodes} }
func (t *Tmpfs) Probe() error { return probeRequirements(t.Requires()) }
func (*Tmpfs) Requires() []Requirement {
	return []Requirement{NeedLinux, NeedRoot, NeedMount}
}

// Setup mounts a fresh tmpfs (16 MiB until Arm caps it).
func (t *Tmpfs) Setup(context.Context) (Setup, error) {
	if err := t.Probe(); err != nil {
		return Setup{}, err
	}
	dir, err := newWorkDir(&t.owned, "tmpfs")
	if err != nil {
		return Setup{}, err
	}
	t.mnt, err = mountOn(&t.owned, dir, "spillbench", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=16m,mode=0700")
	if err != nil {
		return Setup{}, err
	}
	t.log = Log{}
	t.obs = &observer{log: &t.log, mode: func() Mode { return "" }}
	return Setup{Dir: t.mnt, Wrap: func(fs spill.FS) spill.FS { t.obs.inner = fs; return t.obs }}, nil
}

// Arm caps the mount with a remount.
func (t *Tmpfs) Arm(f Fault) error {
	if !slices.Contains(t.Modes(), f.Mode) {
		return fmt.Errorf("tmpfs: %w: %s", ErrUnsupportedMode, f.Mode)
	}
	data := fmt.Sprintf("size=%d", max(f.AfterBytes, 1))
	if f.Mode == ModeInodes {
		data = "nr_inodes=1"
	}
	if err := unix.Mount("spillbench", t.mnt, "tmpfs", unix.MS_REMOUNT|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, data); err != nil {
		return fmt.Errorf("tmpfs: remount %s with %s: %w", t.mnt, data, err)
	}
	t.obs.mode = func() Mode { return f.Mode }
	t.log.Add(Observation{Mode: f.Mode, Op: "mount", Path: t.mnt, Offset: -1, Note: "remounted with " + data})
	return nil
}

func (t *Tmpfs) Observations() []Observation { return t.log.All() }
func (t *Tmpfs) Teardown() error             { return t.releaseAll() }
