package injectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/spill"
)

// Fuse is the FUSE mechanism: a loopback filesystem (go-fuse) over a
// backing directory, mounted with mount(2) directly (no fusermount), whose
// server fails operations by rule. The errno travels through the kernel
// VFS to the engine's write(2) or open(2), as a real filesystem's would.
// The server runs in a child process (see fuseServerEnv for why); this
// side starts it, arms it and reads its observations over a socket.
//
// Rules: the armed mode's errno on writes (on creates for enoent): on
// every write past AfterBytes (a full disk stays full), at random with
// Probability and Seed, or on the Nth write, once or, if Persistent, from
// then on; latency mode adds Latency instead, cut short when the run
// bound with BindRun ends; unmount mode aborts the FUSE connection at the
// Nth write, as a crashed server would, after which every operation fails
// with ENOTCONN.
//
// The kernel splits a large write into several FUSE requests and reports a
// failure after the first as a short write, which os.File.WriteAt retries:
// a one-shot fault there is absorbed and the engine never sees it.
type Fuse struct {
	owned
	log Log // failures the engine saw, at the seam

	mnt   string
	child *fuseChild

	mu    sync.Mutex
	fault Fault
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
	backing, mnt := filepath.Join(dir, "backing"), filepath.Join(dir, "mnt")
	for _, d := range []string{backing, mnt} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return Setup{}, err
		}
	}
	f.mnt = mnt
	child, err := startFuseChild(backing, mnt)
	if err != nil {
		return Setup{}, err
	}
	f.child = child
	f.add("fuse", mnt, child.stop)
	if err := child.ready(); err != nil {
		return Setup{}, err
	}
	f.mu.Lock()
	f.fault = Fault{}
	f.mu.Unlock()
	f.log = Log{}
	return Setup{Dir: mnt, Wrap: func(inner spill.FS) spill.FS {
		return &observer{log: &f.log, inner: inner, mode: f.mode}
	}}, nil
}

func (f *Fuse) mode() Mode {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fault.Mode
}

// Arm sets the rule the server applies from now on.
func (f *Fuse) Arm(fault Fault) error {
	if !slices.Contains(f.Modes(), fault.Mode) {
		return fmt.Errorf("fuse: %w: %s", ErrUnsupportedMode, fault.Mode)
	}
	if f.child == nil {
		return errors.New("fuse: Arm before Setup")
	}
	if _, err := f.child.call(fuseRequest{Op: "arm", Fault: fault}); err != nil {
		return fmt.Errorf("fuse: arm: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fault
	return nil
}

// Observations merges what the server injected with what the engine saw,
// in time order.
func (f *Fuse) Observations() []Observation {
	obs := f.log.All()
	if f.child != nil {
		if rep, err := f.child.call(fuseRequest{Op: "observations"}); err == nil {
			obs = append(rep.Obs, obs...)
		} else {
			obs = append(obs, Observation{Time: time.Now(), Offset: -1, Note: "the server's observations are lost: " + err.Error()})
		}
	}
	slices.SortStableFunc(obs, func(a, b Observation) int { return a.Time.Compare(b.Time) })
	return obs
}

func (f *Fuse) Teardown() error { return f.releaseAll() }

// bindRun cuts the server's delays short once ctx is done, so a run that
// times out or is interrupted ends at once instead of waiting out a
// latency fault; unbind stops watching, and the next bindRun lets delays
// run again.
func (f *Fuse) bindRun(ctx context.Context) (unbind func()) {
	c := f.child
	if c == nil {
		return func() {}
	}
	c.call(fuseRequest{Op: "resume"})
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-ctx.Done():
			c.call(fuseRequest{Op: "cut"})
		case <-quit:
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// controlTimeout bounds one request to the server; the server answers
// every request without waiting on FUSE traffic.
const controlTimeout = 10 * time.Second

// fuseChild is the parent's handle on the server process.
type fuseChild struct {
	mnt      string
	cmd      *exec.Cmd
	released chan struct{} // lets the thread that started the child go

	mu  sync.Mutex // one request at a time
	ctl *os.File   // nil once stopped
	dec *json.Decoder
}

// startFuseChild starts the server process for backing and mnt.
func startFuseChild(backing, mnt string) (*fuseChild, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("fuse: control socket: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "fuse-control"), os.NewFile(uintptr(fds[1]), "fuse-control-child")
	defer theirs.Close()
	// /proc/self/exe is this binary even if its file was replaced or
	// removed since it started; init in this package makes it the server.
	cmd := exec.Command("/proc/self/exe", backing, mnt)
	cmd.Env = append(os.Environ(), fuseServerEnv+"=1")
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stderr = os.Stderr
	// Its own process group keeps the terminal's Ctrl-C from it (the
	// parent stops it); the parent-death signal tells it when to clean up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	c := &fuseChild{mnt: mnt, cmd: cmd, released: make(chan struct{}), ctl: ours, dec: json.NewDecoder(ours)}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started the child exits,
		// not the process. This thread stays locked to this goroutine,
		// parked, until the child is gone, so it exits only with the
		// process (or, killed, with the first threads to die).
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := cmd.Start()
		started <- err
		if err == nil {
			<-c.released
		}
	}()
	if err := <-started; err != nil {
		ours.Close()
		return nil, fmt.Errorf("fuse: start the server: %w", err)
	}
	return c, nil
}

// ready waits for the server to say it has mounted.
func (c *fuseChild) ready() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ctl.SetDeadline(time.Now().Add(30 * time.Second))
	var rep fuseReply
	if err := c.dec.Decode(&rep); err != nil {
		return fmt.Errorf("fuse: the server did not start: %w", err)
	}
	if rep.Err != "" {
		return errors.New(rep.Err)
	}
	return nil
}

// call sends req and returns the server's reply.
func (c *fuseChild) call(req fuseRequest) (fuseReply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctl == nil {
		return fuseReply{}, errors.New("fuse: the server has stopped")
	}
	c.ctl.SetDeadline(time.Now().Add(controlTimeout))
	if err := json.NewEncoder(c.ctl).Encode(req); err != nil {
		return fuseReply{}, fmt.Errorf("fuse: %s: %w", req.Op, err)
	}
	var rep fuseReply
	if err := c.dec.Decode(&rep); err != nil {
		return fuseReply{}, fmt.Errorf("fuse: %s: no answer: %w", req.Op, err)
	}
	if rep.Err != "" {
		return rep, errors.New(rep.Err)
	}
	return rep, nil
}

// stop has the server end its delays and unmount, and waits for it to
// exit. A server that does not answer is killed: its /dev/fuse
// descriptor closes with it, which aborts the connection, and the mount
// it leaves is detached here.
func (c *fuseChild) stop() error {
	_, err := c.call(fuseRequest{Op: "stop"})
	if err != nil {
		c.cmd.Process.Kill()
	}
	werr := c.cmd.Wait()
	if err == nil && werr != nil {
		err = fmt.Errorf("fuse server: %w", werr)
	}
	close(c.released)
	c.mu.Lock()
	c.ctl.Close()
	c.ctl = nil
	c.mu.Unlock()
	if mounted, merr := mountsUnder(c.mnt); merr == nil && len(mounted) > 0 {
		err = errors.Join(err, unmount(c.mnt))
	}
	return err
}
