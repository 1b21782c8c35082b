package injectors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/spill"
)

// Fuse is the FUSE mechanism: a loopback filesystem (go-fuse) over a
// backing directory, mounted with mount(2) directly (no fusermount), whose
// server fails operations by rule. The errno travels through the kernel
// VFS to the engine's write(2) or open(2), as a real filesystem's would.
//
// Rules: the armed mode's errno on writes (on creates for enoent): on
// every write past AfterBytes (a full disk stays full), at random with
// Probability and Seed, or on the Nth write, once or, if Persistent, from
// then on; latency mode adds Latency instead; unmount mode aborts the FUSE
// connection at the Nth write, as a crashed server would, after which
// every operation fails with ENOTCONN.
//
// The kernel splits a large write into several FUSE requests and reports a
// failure after the first as a short write, which os.File.WriteAt retries:
// a one-shot fault there is absorbed and the engine never sees it.
type Fuse struct {
	owned
	log Log

	mnt, backing string
	server       *fuse.Server

	mu      sync.Mutex
	fault   Fault
	calls   int
	written int64
	fired   int
	open    map[*faultFile]bool // server-side files not yet released
}

// NewFuse returns the FUSE mechanism.
func NewFuse() *Fuse { return &Fuse{} }

func (*Fuse) Name() string   { return "fuse" }
func (*Fuse) Family() Family { return Kernel }
func (*Fuse) Modes() []Mode {
	return []Mode{ModeENOSPC, ModeEDQUOT, ModeEIO, ModeEFBIG, ModeENOENT, ModeLatency, ModeUnmount}
}
func (f *Fuse) Probe() error { return probeRequirements(f.Requires()) }
func (*Fuse) Requires() []Requirement {
	return []Requirement{NeedLinux, NeedRoot, NeedFUSE, NeedMount}
}

// Setup starts the server and mounts it; the spill directory is the mount.
func (f *Fuse) Setup(context.Context) (Setup, error) {
	if err := f.Probe(); err != nil {
		return Setup{}, err
	}
	dir, err := newWorkDir(&f.owned, "fuse")
	if err != nil {
		return Setup{}, err
	}
	f.backing, f.mnt = filepath.Join(dir, "backing"), filepath.Join(dir, "mnt")
	for _, d := range []string{f.backing, f.mnt} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return Setup{}, err
		}
	}
	root, err := fs.NewLoopbackRoot(f.backing)
	if err != nil {
		return Setup{}, err
	}
	zero := time.Duration(0)
	f.server, err = fs.Mount(f.mnt, &faultNode{LoopbackNode: root.(*fs.LoopbackNode), f: f}, &fs.Options{
		// Splicing keeps a process-wide pool of pipes open: off, so a
		// torn-down mount leaves no descriptor behind.
		// go-fuse logs every failed reply after an abort to the standard
		// logger; the observations record what matters.
		MountOptions: fuse.MountOptions{DirectMountStrict: true, DisableSplice: true, FsName: "spillbench", Name: "spillbench",
			Logger: log.New(io.Discard, "", 0)},
		EntryTimeout: &zero, AttrTimeout: &zero, NegativeTimeout: &zero,
	})
	if err != nil {
		return Setup{}, fmt.Errorf("mount FUSE on %s: %w", f.mnt, err)
	}
	f.add("fuse", f.mnt, f.stop)
	f.mu.Lock()
	f.fault, f.calls, f.written, f.fired = Fault{}, 0, 0, 0
	f.open = map[*faultFile]bool{}
	f.mu.Unlock()
	f.log = Log{}
	return Setup{Dir: f.mnt, Wrap: func(inner spill.FS) spill.FS {
		return &observer{log: &f.log, inner: inner, mode: func() Mode { return f.fault.Mode }}
	}}, nil
}

// Arm sets the rule the server applies from now on.
func (f *Fuse) Arm(fault Fault) error {
	if !slices.Contains(f.Modes(), fault.Mode) {
		return fmt.Errorf("fuse: %w: %s", ErrUnsupportedMode, fault.Mode)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fault
	return nil
}

// stop unmounts the filesystem and waits for the server to finish. If
// something still holds a file open on it (a run torn down by a signal),
// the unmount is refused and the server would wait for that file forever:
// the connection is aborted first, then the mount detached.
func (f *Fuse) stop() error {
	err := f.server.Unmount()
	if err != nil {
		err = errors.Join(f.abort(), unmount(f.mnt))
	}
	f.server.Wait()
	f.releaseOpen()
	return err
}

// abort aborts the FUSE connection, as a crashed server would, through a
// fusectl mount made for the purpose in the work dir (never over
// /sys/fs/fuse/connections) and removed at once. The connection's id is
// the minor number of the mount's device.
func (f *Fuse) abort() error {
	var st unix.Stat_t
	if err := unix.Stat(f.mnt, &st); err != nil {
		return err
	}
	ctl, err := os.MkdirTemp(filepath.Dir(f.mnt), "fusectl-")
	if err != nil {
		return err
	}
	if err := unix.Mount("fusectl", ctl, "fusectl", 0, ""); err != nil {
		return fmt.Errorf("fuse: mount fusectl: %w", err)
	}
	h := f.add("mount", ctl, func() error { return unmount(ctl) })
	err = os.WriteFile(filepath.Join(ctl, fmt.Sprint(unix.Minor(st.Dev)), "abort"), []byte("1"), 0)
	return errors.Join(err, h.Release())
}

func (f *Fuse) Observations() []Observation { return f.log.All() }
func (f *Fuse) Teardown() error             { return f.releaseAll() }

// decide applies the armed rule to one FUSE operation of size bytes at
// off and returns the errno to answer with, or 0.
func (f *Fuse) decide(op string, path string, off int64, size int) syscall.Errno {
	f.mu.Lock()
	fault := f.fault
	wantOp := "write"
	if fault.Mode == ModeENOENT {
		wantOp = "create"
	}
	if fault.Mode == "" || op != wantOp {
		f.mu.Unlock()
		return 0
	}
	f.calls++
	call := f.calls
	var hit bool
	switch {
	case fault.AfterBytes > 0: // a full disk stays full
		hit = f.written+int64(size) > fault.AfterBytes
	case fault.Probability > 0: // every call rolls the dice
		hit = chance(fault.Seed, uint64(call)) < fault.Probability
	default:
		hit = call >= max(fault.Nth, 1) && (f.fired == 0 || fault.Persistent)
	}
	if !hit {
		f.written += int64(size)
		f.mu.Unlock()
		return 0
	}
	f.fired++
	f.mu.Unlock()

	o := Observation{Mode: fault.Mode, Op: op, Path: path, Offset: off, Call: call}
	var errno syscall.Errno
	switch fault.Mode {
	case ModeLatency:
		time.Sleep(fault.Latency)
		o.Note = fmt.Sprintf("delayed %v", fault.Latency)
	case ModeUnmount:
		if err := f.abort(); err != nil {
			o.Note = "abort failed: " + err.Error()
		} else {
			o.Note = "FUSE connection aborted"
		}
		errno = syscall.ENOTCONN
	default:
		errno = modeErrno[fault.Mode]
	}
	o.Errno = errnoName(errno)
	f.log.Add(o)
	return errno
}

// faultNode is a loopback node whose creates and opens go through the
// rules, and whose files do too.
type faultNode struct {
	*fs.LoopbackNode
	f *Fuse
}

var (
	_ fs.NodeWrapChilder = (*faultNode)(nil)
	_ fs.NodeCreater     = (*faultNode)(nil)
	_ fs.NodeOpener      = (*faultNode)(nil)
	_ fs.NodeTmpfiler    = (*faultNode)(nil)
)

func (n *faultNode) WrapChild(_ context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	if ln, ok := ops.(*fs.LoopbackNode); ok {
		return &faultNode{LoopbackNode: ln, f: n.f}
	}
	return ops
}

func (n *faultNode) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if errno := n.f.decide("create", name, -1, 0); errno != 0 {
		return nil, nil, 0, errno
	}
	inode, fh, fuseFlags, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	return inode, n.wrap(fh, name), fuseFlags, errno
}

// Tmpfile answers O_TMPFILE, which the spill buffer uses where it can and
// this kernel and go-fuse pass through to the server.
func (n *faultNode) Tmpfile(ctx context.Context, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if errno := n.f.decide("create", "(O_TMPFILE)", -1, 0); errno != 0 {
		return nil, nil, 0, errno
	}
	inode, fh, fuseFlags, errno := n.LoopbackNode.Tmpfile(ctx, flags, mode, out)
	return inode, n.wrap(fh, "(O_TMPFILE)"), fuseFlags, errno
}

func (n *faultNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fuseFlags, errno := n.LoopbackNode.Open(ctx, flags)
	return n.wrap(fh, ""), fuseFlags, errno
}

func (n *faultNode) wrap(fh fs.FileHandle, name string) fs.FileHandle {
	lf, ok := fh.(*fs.LoopbackFile)
	if !ok {
		return fh
	}
	h := &faultFile{LoopbackFile: lf, f: n.f, name: name}
	n.f.mu.Lock()
	n.f.open[h] = true
	n.f.mu.Unlock()
	return h
}

// releaseOpen closes the server-side files the kernel never released: it
// sends RELEASE asynchronously, so an unmount (or an abort) can overtake it,
// and the server runs in this process, whose descriptors they are.
func (f *Fuse) releaseOpen() {
	f.mu.Lock()
	open := f.open
	f.open = map[*faultFile]bool{}
	f.mu.Unlock()
	for h := range open {
		h.LoopbackFile.Release(context.Background())
	}
}

// faultFile is a loopback file handle whose writes go through the rules.
type faultFile struct {
	*fs.LoopbackFile
	f    *Fuse
	name string
}

var (
	_ fs.FileWriter          = (*faultFile)(nil)
	_ fs.FileReleaser        = (*faultFile)(nil)
	_ fs.FilePassthroughFder = (*faultFile)(nil)
)

// PassthroughFd refuses FUSE passthrough. The loopback file offers its
// backing descriptor, and a kernel with passthrough (6.9 on) would then
// read and write it directly, never asking the server, so no fault could
// fire.
func (h *faultFile) PassthroughFd() (int, bool) { return -1, false }

func (h *faultFile) Release(ctx context.Context) syscall.Errno {
	h.f.mu.Lock()
	delete(h.f.open, h)
	h.f.mu.Unlock()
	return h.LoopbackFile.Release(ctx)
}

func (h *faultFile) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if errno := h.f.decide("write", h.name, off, len(data)); errno != 0 {
		return 0, errno
	}
	return h.LoopbackFile.Write(ctx, data, off)
}
