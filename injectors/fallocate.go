package injectors

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/spill"
)

// ImageSize is the size of the ext4 image the fallocate mechanism makes.
const ImageSize = 32 << 20

// Fallocate is the fallocate-filler mechanism: it makes a 32 MiB ext4
// image with no root reserve (mkfs.ext4 -m 0: as root, a "full" disk
// still takes writes into the 5% reserve otherwise), attaches it to a loop
// device, mounts it, and on Arm fallocates a filler file so exactly
// Fault.AfterBytes stay free. It only ever fills the filesystem it made.
// ext4's own metadata and delayed allocation may refuse writes before the
// last free byte is used: ENOSPC comes at or before the cap.
type Fallocate struct {
	owned
	log   Log
	dev   string // the loop device the image is attached to
	mnt   string
	spill string
	obs   *observer
}

// NewFallocate returns the fallocate mechanism.
func NewFallocate() *Fallocate { return &Fallocate{} }

func (*Fallocate) Name() string   { return "fallocate" }
func (*Fallocate) Family() Family { return Kernel }
func (*Fallocate) Modes() []Mode  { return []Mode{ModeENOSPC} }
func (f *Fallocate) Probe() error { return probeRequirements(f.Requires()) }
func (*Fallocate) Requires() []Requirement {
	return []Requirement{NeedLinux, NeedRoot, NeedMount, NeedLoop, NeedMkfs}
}

// Setup makes, attaches and mounts the image, with an empty spill directory
// on it.
func (f *Fallocate) Setup(ctx context.Context) (Setup, error) {
	if err := f.Probe(); err != nil {
		return Setup{}, err
	}
	dir, err := newWorkDir(&f.owned, "fallocate")
	if err != nil {
		return Setup{}, err
	}
	image := filepath.Join(dir, "ext4.img")
	if err := os.WriteFile(image, nil, 0o600); err != nil {
		return Setup{}, err
	}
	if err := os.Truncate(image, ImageSize); err != nil {
		return Setup{}, err
	}
	mkfs := exec.CommandContext(ctx, "mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=0,lazy_journal_init=0", image)
	if out, err := mkfs.CombinedOutput(); err != nil {
		return Setup{}, fmt.Errorf("mkfs.ext4: %v: %s", err, out)
	}
	dev, devFile, err := attachLoop(image)
	if err != nil {
		return Setup{}, err
	}
	f.dev = dev
	f.add("loop", dev, func() error { return detachLoopIfBacked(dev, image) })
	f.mnt, err = mountOn(&f.owned, dir, dev, "ext4", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	devFile.Close() // the mount holds the device now; autoclear frees it at unmount
	if err != nil {
		return Setup{}, err
	}
	f.spill = filepath.Join(f.mnt, "spill")
	if err := os.Mkdir(f.spill, 0o700); err != nil {
		return Setup{}, err
	}
	f.log = Log{}
	f.obs = &observer{log: &f.log, mode: func() Mode { return ModeENOSPC }}
	return Setup{Dir: f.spill, Wrap: func(fs spill.FS) spill.FS { f.obs.inner = fs; return f.obs }}, nil
}

// Arm fills the filesystem until exactly fault.AfterBytes stay free (to
// any writer: the image has no root reserve).
func (f *Fallocate) Arm(fault Fault) error {
	if !slices.Contains(f.Modes(), fault.Mode) {
		return fmt.Errorf("fallocate: %w: %s", ErrUnsupportedMode, fault.Mode)
	}
	if f.mnt == "" {
		return errors.New("fallocate: Arm before Setup")
	}
	var st unix.Statfs_t
	if err := unix.Statfs(f.mnt, &st); err != nil {
		return err
	}
	if src, err := mountSource(f.mnt); err != nil || src != f.dev || st.Type != unix.EXT4_SUPER_MAGIC {
		return fmt.Errorf("fallocate: %s is not the ext4 on %s this injector made (source %q, type %#x, %v); refusing to fill it", f.mnt, f.dev, src, st.Type, err)
	}
	free := int64(st.Bavail) * st.Bsize
	if fault.AfterBytes > free {
		return fmt.Errorf("fallocate: asked to leave %d bytes free, only %d are", fault.AfterBytes, free)
	}
	filler, err := os.OpenFile(filepath.Join(f.mnt, "filler"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer filler.Close()
	// The filler's own metadata (extent blocks) takes a little space:
	// allocate, measure, adjust, until the free space is exactly the target.
	size := free - fault.AfterBytes
	for range 8 {
		if err := filler.Truncate(0); err != nil {
			return err
		}
		if size > 0 {
			if err := unix.Fallocate(int(filler.Fd()), 0, 0, size); err != nil && !errors.Is(err, unix.ENOSPC) {
				return fmt.Errorf("fallocate %d bytes: %w", size, err)
			}
		}
		if err := unix.Statfs(f.mnt, &st); err != nil {
			return err
		}
		diff := int64(st.Bavail)*st.Bsize - fault.AfterBytes
		if diff == 0 {
			break
		}
		size += diff
	}
	left := int64(st.Bavail) * st.Bsize
	f.log.Add(Observation{Mode: fault.Mode, Op: "fallocate", Path: filler.Name(), Offset: -1,
		Note: fmt.Sprintf("filler of %d bytes leaves %d bytes free (asked %d)", size, left, fault.AfterBytes)})
	return nil
}

func (f *Fallocate) Observations() []Observation { return f.log.All() }
func (f *Fallocate) Teardown() error             { return f.releaseAll() }

// detachLoopIfBacked detaches dev if it is still backed by image: with
// autoclear the kernel usually freed it at unmount, and the number may
// have gone to someone else since.
func detachLoopIfBacked(dev, image string) error {
	for _, b := range loopBackings() {
		if b.dev == dev && b.file == image {
			return detachLoop(dev)
		}
	}
	return nil
}
