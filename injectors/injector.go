package injectors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/spill"
)

// Family says where a mechanism injects: in the process, around the spill
// FS seam, or in the kernel, under the spill directory.
type Family string

const (
	Userspace Family = "userspace"
	Kernel    Family = "kernel"
)

// Requirement is something a mechanism needs from the host.
type Requirement string

const (
	NeedLinux   Requirement = "linux"
	NeedRoot    Requirement = "root"
	NeedMount   Requirement = "mount"     // mount(2) works here
	NeedFUSE    Requirement = "/dev/fuse" // the FUSE device
	NeedLoop    Requirement = "loop"      // /dev/loop-control
	NeedMkfs    Requirement = "mkfs.ext4" // e2fsprogs
	NeedTagged  Requirement = "build tag failpoint"
	NeedNothing Requirement = ""
)

// Mode is a kind of fault a mechanism can produce.
type Mode string

// Fault modes. Not every mechanism supports every mode: see Modes.
const (
	ModeENOSPC     Mode = "enospc"      // no space left on device
	ModeEDQUOT     Mode = "edquot"      // disk quota exceeded
	ModeEIO        Mode = "eio"         // I/O error
	ModeEFBIG      Mode = "efbig"       // file too large
	ModeENOENT     Mode = "enoent"      // the path is gone
	ModeShortWrite Mode = "short-write" // a write that stops part way
	ModeInodes     Mode = "inodes"      // no inode left: ENOSPC at create
	ModeLatency    Mode = "latency"     // slow I/O, no error

	ModeUnlinkOpen   Mode = "unlink-open"   // (a) unlink the open spill file
	ModeReplace      Mode = "replace"       // (b) replace the spill file at its path
	ModeRmdirBurst   Mode = "rmdir-burst"   // (c) remove the directory during a spill burst
	ModeRmdirBetween Mode = "rmdir-between" // (d) remove the directory between spills
	ModeUnmount      Mode = "unmount"       // (e) unmount the filesystem under the buffer
)

// Fault is what to inject. Fields a mechanism does not use are ignored.
type Fault struct {
	Mode Mode
	// Site restricts a userspace fault to one seam site; empty means the
	// natural site for the mode (record and batch writes for write errors).
	Site spill.Site
	// AfterBytes: fail once this many bytes have been written (mock, FUSE),
	// or leave exactly this many bytes free (tmpfs, fallocate).
	AfterBytes int64
	// Nth fails the nth matching call, counting from 1; 0 means the first.
	Nth int
	// Persistent keeps failing after the first failure.
	Persistent bool
	// Rule is a predicate in the rule language (see ParseRule) narrowing
	// which calls a mock fault may hit; empty means any call at Site.
	Rule string
	// Terms is a failpoint term ("return(\"ENOSPC\")", "25%return(...)",
	// "sleep(10)"); the failpoint mechanism only.
	Terms string
	// Probability and Seed make a FUSE fault random but repeatable.
	Probability float64
	Seed        uint64
	// Latency is added to each matching FUSE operation.
	Latency time.Duration
	// Partial, for a one-shot or persistent write fault, is how many bytes
	// of the failing write reach the file first (at most its length): a
	// record cut anywhere, header included.
	Partial int
}

func (f Fault) String() string {
	s := string(f.Mode)
	if f.Site != "" {
		s += "@" + string(f.Site)
	}
	if f.AfterBytes > 0 {
		s += fmt.Sprintf(" after=%d", f.AfterBytes)
	}
	if f.Nth > 0 {
		s += fmt.Sprintf(" nth=%d", f.Nth)
	}
	if f.Persistent {
		s += " persistent"
	}
	return s
}

// Observation is one fault an injector caused or one effect it saw (Call
// > 0), or a note about its setup (Call 0).
type Observation struct {
	Time   time.Time  `json:"time"`
	Mode   Mode       `json:"mode,omitempty"`
	Errno  string     `json:"errno,omitempty"` // "ENOSPC"; empty for a vanish that returns no error
	Site   spill.Site `json:"site,omitempty"`  // the seam site the call was made at
	Op     string     `json:"op,omitempty"`    // the syscall or operation: "write", "rmdir", "umount2"
	Path   string     `json:"path,omitempty"`
	Offset int64      `json:"offset"`         // byte offset of the failing read or write, -1 if none
	Size   int        `json:"size,omitempty"` // bytes the call asked to write or read
	// Call counts from 1: for a fault that fired, which of the calls its
	// fault selected (the nth, after its rule) it struck; for a traced
	// call, its index among all calls; 0 for setup notes.
	Call int    `json:"call"`
	Note string `json:"note,omitempty"`
}

// Summary is what a run's observations say about its fault, in the shape
// outcomes.jsonl stores: whether it fired and where it first struck.
type Summary struct {
	Fired  bool       `json:"fired"`
	Errno  string     `json:"errno,omitempty"`
	Site   spill.Site `json:"site,omitempty"`
	Op     string     `json:"op,omitempty"`
	Offset int64      `json:"offset"`
	Call   int        `json:"call"`
	Events int        `json:"events"` // injections and failures seen
}

// Summarize summarizes observations: the first injection or failure, and
// how many there were.
func Summarize(obs []Observation) Summary {
	s := Summary{Offset: -1}
	for _, o := range obs {
		if o.Call == 0 || o.Note == "traced" {
			continue // a setup note, or a traced call that did not fail
		}
		s.Events++
		if !s.Fired || (s.Errno == "" && o.Errno != "") {
			s.Fired, s.Errno, s.Site, s.Op, s.Offset, s.Call = true, o.Errno, o.Site, o.Op, o.Offset, o.Call
		}
	}
	return s
}

// Log is a concurrency-safe observation log.
type Log struct {
	mu  sync.Mutex
	obs []Observation
}

// Add appends o, stamping its time.
func (l *Log) Add(o Observation) {
	o.Time = time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.obs = append(l.obs, o)
}

// All returns a copy of the log.
func (l *Log) All() []Observation {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Observation(nil), l.obs...)
}

// Setup is what an injector hands the engine: a spill directory to use
// instead of its own, an FS wrapper for the seam, or both.
type Setup struct {
	Dir  string
	Wrap func(spill.FS) spill.FS
}

// Apply points p at the setup's directory and wraps its FS.
func (s Setup) Apply(p spill.Policy) spill.Policy {
	if s.Dir != "" {
		p.Dir = s.Dir
	}
	if s.Wrap != nil {
		inner := p.FS
		if inner == nil {
			inner = spill.OS
		}
		p.FS = s.Wrap(inner)
	}
	return p
}

// Injector is one fault mechanism. The life of one run is Probe, Setup,
// Arm, the engine run, Observations, Teardown. Teardown is idempotent and
// releases everything Setup created, also when Setup failed half way;
// everything is registered with the Registry as it is created, so a signal
// handler can release it too.
type Injector interface {
	Name() string
	Family() Family
	Requires() []Requirement
	// Probe says whether the mechanism works on this host: nil, or an
	// error whose text is the reason it does not.
	Probe() error
	// Modes lists the fault modes it can produce.
	Modes() []Mode
	// Setup prepares a fresh environment for one run.
	Setup(ctx context.Context) (Setup, error)
	// Arm sets the fault the next run meets.
	Arm(Fault) error
	// Observations lists what was injected since Setup.
	Observations() []Observation
	// Teardown releases everything Setup created.
	Teardown() error
}

// ProbeMode says whether inj can produce mode on this host: its Probe,
// and, for mechanisms where some modes need more than others, that mode's
// own requirements.
func ProbeMode(inj Injector, mode Mode) error {
	if err := inj.Probe(); err != nil {
		return err
	}
	if mp, ok := inj.(interface{ probeMode(Mode) error }); ok {
		return mp.probeMode(mode)
	}
	return nil
}

// BindRun ties inj's delays to a run's context: once ctx is done, a
// mechanism that delays operations (FUSE latency) ends its delays, so a
// run that times out or is interrupted returns at once instead of
// waiting out the fault. Call unbind when the run has returned; the next
// BindRun lets delays run again. Mechanisms without delays ignore it.
func BindRun(ctx context.Context, inj Injector) (unbind func()) {
	if b, ok := inj.(interface {
		bindRun(context.Context) func()
	}); ok {
		return b.bindRun(ctx)
	}
	return func() {}
}

// ErrUnsupportedMode is returned by Arm for a mode the mechanism lacks.
var ErrUnsupportedMode = errors.New("fault mode not supported by this mechanism")

// errnoName is the symbolic name of an errno, "ENOSPC"; other errors
// have none.
func errnoName(err error) string {
	var e unix.Errno
	if errors.As(err, &e) {
		return unix.ErrnoName(e)
	}
	return ""
}

// modeErrno is the errno a mode injects in userspace mechanisms.
var modeErrno = map[Mode]unix.Errno{
	ModeENOSPC: unix.ENOSPC,
	ModeEDQUOT: unix.EDQUOT,
	ModeEIO:    unix.EIO,
	ModeEFBIG:  unix.EFBIG,
	ModeENOENT: unix.ENOENT,
}

// errnoByName returns the errno named name ("ENOSPC"), or 0.
func errnoByName(name string) unix.Errno {
	return errnoNames()[name]
}

var errnoNames = sync.OnceValue(func() map[string]unix.Errno {
	m := map[string]unix.Errno{}
	for e := unix.Errno(1); e < 256; e++ {
		if n := unix.ErrnoName(e); n != "" {
			m[n] = e
		}
	}
	return m
})

// All returns a fresh instance of every mechanism.
func All() []Injector {
	return []Injector{NewMock(), NewFailpoint(), NewTmpfs(), NewFallocate(), NewFuse(), NewVanish()}
}

// ByName returns a fresh instance of the named mechanism.
func ByName(name string) (Injector, error) {
	var names []string
	for _, inj := range All() {
		if inj.Name() == name {
			return inj, nil
		}
		names = append(names, inj.Name())
	}
	return nil, fmt.Errorf("unknown injector %q; use one of %v", name, names)
}

// chance maps (seed, n) to a number in [0, 1) that looks random and is
// the same every run: the splitmix64 finalizer over both.
func chance(seed, n uint64) float64 {
	z := seed + n*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}
