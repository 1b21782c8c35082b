package injectors

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/spill"
)

// Vanish is the temp-vanish mechanism: real syscalls that make the spill
// file or its directory disappear while the engine runs. It watches the
// seam to pick its moment and otherwise changes nothing:
//
//	unlink-open    unlink the open spill file (the mechanism creates it
//	               named, as a filesystem without O_TMPFILE would)
//	replace        rename another file over the spill file's path
//	rmdir-burst    remove the spill directory inside the Nth record write
//	rmdir-between  remove it between spills, at the Nth reload
//	unmount        lazily unmount the tmpfs under the spill directory at
//	               the Nth record write (needs root)
//
// Many of these fail nothing: an open descriptor outlives its name, its
// directory and a lazy unmount. The observations say so; only the next
// create in the vanished place fails.
type Vanish struct {
	owned
	log Log

	mu    sync.Mutex
	dir   string // the spill directory
	fault Fault
	count int  // calls counted towards the trigger
	fired bool // the vanish happened
	named string
}

// NewVanish returns the temp-vanish mechanism.
func NewVanish() *Vanish { return &Vanish{} }

func (*Vanish) Name() string            { return "vanish" }
func (*Vanish) Family() Family          { return Kernel }
func (*Vanish) Requires() []Requirement { return []Requirement{NeedLinux} }
func (v *Vanish) Probe() error          { return probeRequirements(v.Requires()) }
func (*Vanish) Modes() []Mode {
	return []Mode{ModeUnlinkOpen, ModeReplace, ModeRmdirBurst, ModeRmdirBetween, ModeUnmount}
}

// probeMode: unmount mode mounts a tmpfs, which needs root.
func (v *Vanish) probeMode(m Mode) error {
	if m == ModeUnmount {
		return probeRequirements([]Requirement{NeedRoot, NeedMount})
	}
	return nil
}

func (v *Vanish) Setup(context.Context) (Setup, error) {
	dir, err := newWorkDir(&v.owned, "vanish")
	if err != nil {
		return Setup{}, err
	}
	v.mu.Lock()
	v.dir, v.count, v.fired, v.named = filepath.Join(dir, "spill"), 0, false, ""
	v.mu.Unlock()
	v.log = Log{}
	return Setup{Dir: v.dir, Wrap: func(fs spill.FS) spill.FS {
		return &vanishFS{v: v, inner: &observer{log: &v.log, inner: fs, mode: func() Mode { return v.fault.Mode }}}
	}}, nil
}

// Arm picks the mode and the call it fires on (Nth, default 2 for writes
// and 1 for reloads). Unmount mode mounts a tmpfs on the spill directory
// now.
func (v *Vanish) Arm(f Fault) error {
	if !slices.Contains(v.Modes(), f.Mode) {
		return fmt.Errorf("vanish: %w: %s", ErrUnsupportedMode, f.Mode)
	}
	if f.Nth == 0 {
		f.Nth = 2
		if f.Mode == ModeRmdirBetween {
			f.Nth = 1
		}
	}
	if f.Mode == ModeUnmount {
		if err := v.probeMode(f.Mode); err != nil {
			return fmt.Errorf("vanish: unmount mode: %w", err)
		}
		if err := os.MkdirAll(v.dir, 0o700); err != nil {
			return err
		}
		if err := unix.Mount("spillbench", v.dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=64m,mode=0700"); err != nil {
			return fmt.Errorf("vanish: mount tmpfs on %s: %w", v.dir, err)
		}
		dir := v.dir
		v.add("mount", dir, func() error { return unmount(dir) })
	}
	v.mu.Lock()
	v.fault = f
	v.mu.Unlock()
	return nil
}

func (v *Vanish) Observations() []Observation { return v.log.All() }
func (v *Vanish) Teardown() error             { return v.releaseAll() }

// tick counts a call of the kind the armed mode triggers on and fires the
// vanish when the count reaches Nth.
func (v *Vanish) tick(site spill.Site) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.fired || v.fault.Mode == "" {
		return
	}
	reload := site == spill.SiteReloadHeader
	write := site == spill.SiteRecordWrite || site == spill.SiteBatchWrite
	if (v.fault.Mode == ModeRmdirBetween && !reload) || (v.fault.Mode != ModeRmdirBetween && !write) {
		return
	}
	v.count++
	if v.count < v.fault.Nth {
		return
	}
	v.fired = true
	op, path, err := v.vanish()
	o := Observation{Mode: v.fault.Mode, Site: site, Op: op, Path: path, Offset: -1, Call: v.count, Errno: errnoName(err)}
	if err != nil {
		o.Note = "the vanish itself failed: " + err.Error()
	} else {
		o.Note = "vanished; later failures, if any, follow"
	}
	v.log.Add(o)
}

// vanish performs the armed mode's syscall.
func (v *Vanish) vanish() (op, path string, err error) {
	switch v.fault.Mode {
	case ModeUnlinkOpen:
		return "unlink", v.named, os.Remove(v.named)
	case ModeReplace:
		other := v.named + ".replacement"
		if err := os.WriteFile(other, []byte("not the spill file\n"), 0o600); err != nil {
			return "rename", v.named, err
		}
		return "rename", v.named, os.Rename(other, v.named)
	case ModeRmdirBurst, ModeRmdirBetween:
		return "rmdir", v.dir, os.RemoveAll(v.dir)
	case ModeUnmount:
		return "umount2(MNT_DETACH)", v.dir, unix.Unmount(v.dir, unix.MNT_DETACH)
	}
	return "", "", nil
}

type vanishFS struct {
	v     *Vanish
	inner spill.FS
}

func (f *vanishFS) MkdirAll(site spill.Site, dir string, perm os.FileMode) error {
	return f.inner.MkdirAll(site, dir, perm)
}

// CreateTemp creates a named spill file for the modes that need a name to
// vanish, and hides the name from the buffer so it does not unlink it.
func (f *vanishFS) CreateTemp(site spill.Site, dir string) (spill.File, string, error) {
	mode := f.v.fault.Mode
	if mode != ModeUnlinkOpen && mode != ModeReplace {
		file, name, err := f.inner.CreateTemp(site, dir)
		if err != nil {
			return nil, "", err
		}
		return &vanishFile{fs: f, inner: file}, name, nil
	}
	osf, err := os.CreateTemp(dir, "spill-*")
	if err != nil {
		return nil, "", err
	}
	f.v.mu.Lock()
	f.v.named = osf.Name()
	f.v.mu.Unlock()
	return &vanishFile{fs: f, inner: spill.OSFile(osf)}, "", nil
}

func (f *vanishFS) Remove(site spill.Site, name string) error { return f.inner.Remove(site, name) }

type vanishFile struct {
	fs    *vanishFS
	inner spill.File
}

func (f *vanishFile) WriteAt(site spill.Site, p []byte, off int64) (int, error) {
	f.fs.v.tick(site)
	return f.inner.WriteAt(site, p, off)
}

func (f *vanishFile) ReadAt(site spill.Site, p []byte, off int64) (int, error) {
	f.fs.v.tick(site)
	return f.inner.ReadAt(site, p, off)
}

func (f *vanishFile) Close(site spill.Site) error { return f.inner.Close(site) }
