package injectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// The FUSE server runs in a child process: the program's own binary
// started again with fuseServerEnv set, which init below turns into the
// server before main (or a test binary's TestMain) runs. So does every
// binary that links this package.
//
// Why a child: a thread of the sweep blocked in a FUSE write waits for
// the server's answer even after SIGKILL. With the server in the same
// process, the server died and its /dev/fuse descriptor lived on in the
// dying process's descriptor table, held by the thread waiting for it:
// an unkillable process and a hung mount. A server in its own process
// answers, or dies, and the kernel aborts the connection when the last
// descriptor of /dev/fuse closes. The child also learns of its parent's
// death (Pdeathsig, and EOF on the control socket) and then aborts the
// connection, unmounts and removes the work dir itself.
const fuseServerEnv = "SPILLBENCH_FUSE_SERVER"

func init() {
	if os.Getenv(fuseServerEnv) != "" {
		os.Exit(serveFuseChild(os.Args[1:]))
	}
}

// fuseRequest is one command from the parent on the control socket:
// arm (Fault), observations, cut (end every delay now and until resume),
// resume, stop (end delays, unmount, exit).
type fuseRequest struct {
	Op    string
	Fault Fault
}

// fuseReply answers a request; the first reply says the mount is ready.
type fuseReply struct {
	Err string        `json:",omitempty"`
	Obs []Observation `json:",omitempty"`
}

// orphanWait bounds how long an orphaned server waits for the dying
// parent's last thread before unmounting anyway.
const orphanWait = 10 * time.Second

// serveFuseChild is the child's main: args are the backing directory and
// the mount point; the control socket is descriptor 3.
func serveFuseChild(args []string) int {
	// The parent handles the terminal's signals and tells us what to do;
	// SIGTERM is the parent-death signal.
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	parentDied := make(chan os.Signal, 1)
	signal.Notify(parentDied, syscall.SIGTERM)
	ppid := os.Getppid()
	ctl := os.NewFile(3, "spillbench-fuse-control")
	enc := json.NewEncoder(ctl)
	if len(args) != 2 {
		enc.Encode(fuseReply{Err: fmt.Sprintf("fuse server: want a backing dir and a mount point, have %q", args)})
		return 2
	}
	s := &fuseServer{mnt: args[1], cut: make(chan struct{})}
	if err := s.mount(args[0]); err != nil {
		enc.Encode(fuseReply{Err: err.Error()})
		return 1
	}
	enc.Encode(fuseReply{})
	eof, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(eof)
		s.control(ctl, enc, stopped)
	}()
	select {
	case <-stopped:
		return 0
	case <-parentDied:
	case <-eof:
		select {
		case <-stopped: // the reply to stop went out before the parent closed
			return 0
		default:
		}
	}
	s.orphaned(ppid, eof)
	return 0
}

// control answers the parent's requests until stop or EOF.
func (s *fuseServer) control(ctl io.Reader, enc *json.Encoder, stopped chan<- struct{}) {
	dec := json.NewDecoder(ctl)
	for {
		var req fuseRequest
		if err := dec.Decode(&req); err != nil {
			return
		}
		var rep fuseReply
		var err error
		switch req.Op {
		case "arm":
			s.arm(req.Fault)
		case "observations":
			rep.Obs = s.log.All()
		case "cut":
			s.cutDelays()
		case "resume":
			s.resumeDelays()
		case "stop":
			err = s.stop()
		default:
			err = fmt.Errorf("fuse server: unknown request %q", req.Op)
		}
		if err != nil {
			rep.Err = err.Error()
		}
		enc.Encode(rep)
		if req.Op == "stop" {
			close(stopped)
			return
		}
	}
}

// orphaned cleans up after a parent that died without stopping us: it
// ends every delay and aborts the connection, so that a parent thread
// blocked in a FUSE call returns and the parent can finish dying; once
// it has (its end of the control socket closes), it unmounts and removes
// the work dir, if the parent's marker says it is the parent's.
func (s *fuseServer) orphaned(ppid int, eof <-chan struct{}) {
	s.cutDelays()
	s.abort()
	gone := false
	select {
	case <-eof:
		gone = true
	case <-time.After(orphanWait):
	}
	unix.Unmount(s.mnt, unix.MNT_DETACH)
	if !gone {
		return
	}
	work := filepath.Dir(s.mnt)
	if pid, ok := markerPID(work); ok && pid == ppid && !processAlive(ppid) {
		removeWorkDir(work)
	}
}

// fuseServer is the child's side: the mount, the armed rule, the log of
// what it injected.
type fuseServer struct {
	mnt    string
	conn   uint32 // the FUSE connection's id, the mount's device minor
	server *fuse.Server
	log    Log

	mu      sync.Mutex
	fault   Fault
	calls   int
	written int64
	fired   int
	cut     chan struct{} // closed: delays end at once
}

// mount starts the loopback server over backing and mounts it.
func (s *fuseServer) mount(backing string) error {
	root, err := fs.NewLoopbackRoot(backing)
	if err != nil {
		return err
	}
	zero := time.Duration(0)
	s.server, err = fs.Mount(s.mnt, &faultNode{LoopbackNode: root.(*fs.LoopbackNode), s: s}, &fs.Options{
		// Splicing keeps a pool of pipes open: off, as nothing needs it.
		// go-fuse logs every failed reply after an abort to the standard
		// logger; the observations record what matters.
		MountOptions: fuse.MountOptions{DirectMountStrict: true, DisableSplice: true, FsName: "spillbench", Name: "spillbench",
			Logger: log.New(io.Discard, "", 0)},
		EntryTimeout: &zero, AttrTimeout: &zero, NegativeTimeout: &zero,
	})
	if err != nil {
		return fmt.Errorf("mount FUSE on %s: %w", s.mnt, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(s.mnt, &st); err != nil {
		return errors.Join(fmt.Errorf("stat the new FUSE mount: %w", err), s.stop())
	}
	s.conn = unix.Minor(st.Dev)
	return nil
}

func (s *fuseServer) arm(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// cutDelays ends every delay in progress, and every later one until
// resumeDelays.
func (s *fuseServer) cutDelays() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.cut:
	default:
		close(s.cut)
	}
}

func (s *fuseServer) resumeDelays() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.cut:
		s.cut = make(chan struct{})
	default:
	}
}

// stop ends every delay and unmounts. If something still holds a file
// open on the mount (a run torn down by a signal), the unmount is refused
// and the server would wait for that file forever: the connection is
// aborted first, then the mount detached.
func (s *fuseServer) stop() error {
	s.cutDelays()
	err := s.server.Unmount()
	if err != nil {
		err = errors.Join(s.abort(), unmount(s.mnt))
	}
	waited := make(chan struct{})
	go func() { s.server.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(orphanWait):
		err = errors.Join(err, errors.New("fuse server: the serve loop did not end after the unmount"))
	}
	return err
}

// abort aborts the connection, as a crashed server would.
func (s *fuseServer) abort() error {
	return abortFuseConn(s.conn, filepath.Dir(s.mnt))
}

// fusectlDir is where fusectl is normally mounted.
const fusectlDir = "/sys/fs/fuse/connections"

// abortFuseConn aborts FUSE connection conn: every request in flight and
// every later one fails (ECONNABORTED, then ENOTCONN). It writes the
// connection's abort file under /sys/fs/fuse/connections if fusectl is
// mounted there, and otherwise through a fusectl mount it makes for the
// purpose under scratch (never over /sys/fs/fuse/connections) and
// removes at once.
func abortFuseConn(conn uint32, scratch string) error {
	name := strconv.FormatUint(uint64(conn), 10)
	if _, err := os.Stat(filepath.Join(fusectlDir, name)); err == nil {
		return os.WriteFile(filepath.Join(fusectlDir, name, "abort"), []byte("1"), 0)
	}
	ctl, err := os.MkdirTemp(scratch, "fusectl-")
	if err != nil {
		return err
	}
	defer os.Remove(ctl)
	if err := unix.Mount("fusectl", ctl, "fusectl", 0, ""); err != nil {
		return fmt.Errorf("fuse: mount fusectl: %w", err)
	}
	err = os.WriteFile(filepath.Join(ctl, name, "abort"), []byte("1"), 0)
	return errors.Join(err, unmount(ctl))
}

// decide applies the armed rule to one FUSE operation of size bytes at
// off and returns the errno to answer with, or 0. A delay ends early when
// the parent cuts delays (its run ended) or the kernel interrupts the
// request.
func (s *fuseServer) decide(ctx context.Context, op string, path string, off int64, size int) syscall.Errno {
	s.mu.Lock()
	fault, cut := s.fault, s.cut
	wantOp := "write"
	if fault.Mode == ModeENOENT {
		wantOp = "create"
	}
	if fault.Mode == "" || op != wantOp {
		s.mu.Unlock()
		return 0
	}
	s.calls++
	call := s.calls
	var hit bool
	switch {
	case fault.AfterBytes > 0: // a full disk stays full
		hit = s.written+int64(size) > fault.AfterBytes
	case fault.Probability > 0: // every call rolls the dice
		hit = chance(fault.Seed, uint64(call)) < fault.Probability
	default:
		hit = call >= max(fault.Nth, 1) && (s.fired == 0 || fault.Persistent)
	}
	if !hit {
		s.written += int64(size)
		s.mu.Unlock()
		return 0
	}
	s.fired++
	s.mu.Unlock()

	o := Observation{Mode: fault.Mode, Op: op, Path: path, Offset: off, Call: call}
	var errno syscall.Errno
	switch fault.Mode {
	case ModeLatency:
		o.Note = delay(ctx, fault.Latency, cut)
	case ModeUnmount:
		if err := s.abort(); err != nil {
			o.Note = "abort failed: " + err.Error()
		} else {
			o.Note = "FUSE connection aborted"
		}
		errno = syscall.ENOTCONN
	default:
		errno = modeErrno[fault.Mode]
	}
	o.Errno = errnoName(errno)
	s.log.Add(o)
	return errno
}

// delay waits d, or less if cut closes or ctx ends, and says which.
func delay(ctx context.Context, d time.Duration, cut <-chan struct{}) string {
	start := time.Now()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return fmt.Sprintf("delayed %v", d)
	case <-cut:
		return fmt.Sprintf("delayed %v of %v: the run ended", time.Since(start).Round(time.Microsecond), d)
	case <-ctx.Done():
		return fmt.Sprintf("delayed %v of %v: the kernel interrupted the request", time.Since(start).Round(time.Microsecond), d)
	}
}

// faultNode is a loopback node whose creates go through the rules, and
// whose files' writes do too.
type faultNode struct {
	*fs.LoopbackNode
	s *fuseServer
}

var (
	_ fs.NodeWrapChilder = (*faultNode)(nil)
	_ fs.NodeCreater     = (*faultNode)(nil)
	_ fs.NodeOpener      = (*faultNode)(nil)
	_ fs.NodeTmpfiler    = (*faultNode)(nil)
)

func (n *faultNode) WrapChild(_ context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	if ln, ok := ops.(*fs.LoopbackNode); ok {
		return &faultNode{LoopbackNode: ln, s: n.s}
	}
	return ops
}

func (n *faultNode) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if errno := n.s.decide(ctx, "create", name, -1, 0); errno != 0 {
		return nil, nil, 0, errno
	}
	inode, fh, fuseFlags, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	return inode, n.wrap(fh, name), fuseFlags, errno
}

// Tmpfile answers O_TMPFILE, which the spill buffer uses where it can and
// this kernel and go-fuse pass through to the server.
func (n *faultNode) Tmpfile(ctx context.Context, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if errno := n.s.decide(ctx, "create", "(O_TMPFILE)", -1, 0); errno != 0 {
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
	if lf, ok := fh.(*fs.LoopbackFile); ok {
		return &faultFile{LoopbackFile: lf, s: n.s, name: name}
	}
	return fh
}

// faultFile is a loopback file handle whose writes go through the rules.
// (The server's descriptors are its own process's: they close with it,
// however the mount ends.)
type faultFile struct {
	*fs.LoopbackFile
	s    *fuseServer
	name string
}

var (
	_ fs.FileWriter          = (*faultFile)(nil)
	_ fs.FilePassthroughFder = (*faultFile)(nil)
)

// PassthroughFd refuses FUSE passthrough. The loopback file offers its
// backing descriptor, and a kernel with passthrough (6.9 on) would then
// read and write it directly, never asking the server, so no fault could
// fire.
func (h *faultFile) PassthroughFd() (int, bool) { return -1, false }

func (h *faultFile) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if errno := h.s.decide(ctx, "write", h.name, off, len(data)); errno != 0 {
		return 0, errno
	}
	return h.LoopbackFile.Write(ctx, data, off)
}

// markerPID reads the owner PID from a work dir's marker.
func markerPID(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, markerName))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 0
}
