package injectors

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Registry tracks every resource injectors create (mounts, loop devices,
// FUSE servers, temp dirs, files) so they are released in reverse order of
// creation: on Teardown, and, through the process-wide Resources registry,
// on a signal or from TestMain.
type Registry struct {
	mu    sync.Mutex
	items []*resource
}

type resource struct {
	kind, name string
	release    func() error
	// once runs release; a second caller waits until it has finished,
	// so a signal handler draining the registry cannot exit while a
	// release it did not start is still unmounting.
	once sync.Once
	err  error
}

// Resources is the process-wide registry the signal handler drains.
var Resources = &Registry{}

// Handle is a registered resource; Release releases it once.
type Handle struct {
	r   *Registry
	res *resource
}

// Add registers a resource and returns its handle.
func (r *Registry) Add(kind, name string, release func() error) Handle {
	res := &resource{kind: kind, name: name, release: release}
	r.mu.Lock()
	r.items = append(r.items, res)
	r.mu.Unlock()
	return Handle{r, res}
}

// Release releases the resource if nobody has yet, and returns its
// failure. If another goroutine is releasing it, Release waits for that
// and returns nil: the failure is reported once, by the one that ran it.
func (h Handle) Release() error {
	if h.res == nil {
		return nil
	}
	ran := false
	h.res.once.Do(func() {
		ran = true
		if err := h.res.release(); err != nil {
			h.res.err = fmt.Errorf("release %s %s: %w", h.res.kind, h.res.name, err)
		}
		h.r.mu.Lock()
		h.r.items = slices.DeleteFunc(h.r.items, func(x *resource) bool { return x == h.res })
		h.r.mu.Unlock()
	})
	if !ran {
		return nil
	}
	return h.res.err
}

// ReleaseAll releases every resource still held, newest first, waits for
// releases other goroutines have started, and returns every failure.
func (r *Registry) ReleaseAll() error {
	r.mu.Lock()
	items := slices.Clone(r.items)
	r.mu.Unlock()
	var errs []error
	for i := len(items) - 1; i >= 0; i-- {
		errs = append(errs, Handle{r, items[i]}.Release())
	}
	return errors.Join(errs...)
}

// Held lists the resources not yet released, as "kind name".
func (r *Registry) Held() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var held []string
	for _, res := range r.items {
		held = append(held, res.kind+" "+res.name)
	}
	return held
}

// HandleSignals releases every registered resource when SIGINT or SIGTERM
// arrives, then exits with 128+signal. A release another goroutine has
// started is waited for; if a further signal comes while releases hang,
// it names what is still held and exits at once. Call stop to uninstall
// the handler.
func HandleSignals() (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var sig os.Signal
		select {
		case sig = <-ch:
		case <-done:
			return
		}
		released := make(chan error, 1)
		go func() { released <- Resources.ReleaseAll() }()
		select {
		case err := <-released:
			if err != nil {
				fmt.Fprintf(os.Stderr, "spillbench: releasing injector resources after %v: %v\n", sig, err)
			}
		case <-ch:
			fmt.Fprintf(os.Stderr, "spillbench: exiting with resources still held (spillbench cleanup removes them): %s\n", strings.Join(Resources.Held(), ", "))
		}
		code := 130
		if s, ok := sig.(syscall.Signal); ok {
			code = 128 + int(s)
		}
		os.Exit(code)
	})
	return func() {
		signal.Stop(ch)
		close(done)
		wg.Wait()
	}
}

// owned is the resources one injector holds, registered with Resources so
// a signal handler can release them too.
type owned struct{ handles []Handle }

func (o *owned) add(kind, name string, release func() error) Handle {
	h := Resources.Add(kind, name, release)
	o.handles = append(o.handles, h)
	return h
}

// releaseAll releases what o holds, newest first. It is idempotent.
func (o *owned) releaseAll() error {
	var errs []error
	for i := len(o.handles) - 1; i >= 0; i-- {
		errs = append(errs, o.handles[i].Release())
	}
	o.handles = nil
	return errors.Join(errs...)
}

// markerName marks a directory as one this program made. It holds the
// creating process's PID, so Cleanup can tell a live run from a dead one.
const markerName = ".spillbench-injector"

// tempPrefix starts the name of every temp dir the program makes; the
// creating PID follows the purpose: spillbench-<purpose>-<pid>-<random>.
const tempPrefix = "spillbench-"

// newWorkDir creates a marked work dir, spillbench-inj-<mech>-<pid>-*, in
// the temp dir and registers its removal. Everything an injector creates
// on disk lives under it.
func newWorkDir(o *owned, mech string) (string, error) {
	dir, err := markedTempDir("", "inj-"+mech)
	if err != nil {
		return "", err
	}
	o.add("dir", dir, func() error { return removeWorkDir(dir) })
	return dir, nil
}

// NewTempDir creates a temp dir for purpose ("spill", "rawfs"), named
// spillbench-<purpose>-<pid>-<random> and marked with this process's PID,
// and registers its removal with Resources: the signal handler removes
// it, and Cleanup removes it once this process is dead. Release the
// handle to remove it.
func NewTempDir(purpose string) (string, Handle, error) { return NewTempDirIn("", purpose) }

// NewTempDirIn is NewTempDir in parent instead of the temp dir (an empty
// parent is the temp dir). Cleanup scans the directory it is given:
// `spillbench cleanup` scans the temp dir, $SPILLBENCH_SPILL_DIR and
// its --in directory.
func NewTempDirIn(parent, purpose string) (string, Handle, error) {
	dir, err := markedTempDir(parent, purpose)
	if err != nil {
		return "", Handle{}, err
	}
	return dir, Resources.Add("dir", dir, func() error { return removeWorkDir(dir) }), nil
}

// markedTempDir creates spillbench-<purpose>-<pid>-<random> in parent
// (the temp dir if empty) with the marker in it. The PID in the name
// covers the moment before the marker exists: Cleanup takes an empty dir
// so named, by a dead process, as one it left.
func markedTempDir(parent, purpose string) (string, error) {
	pid := strconv.Itoa(os.Getpid())
	dir, err := os.MkdirTemp(parent, tempPrefix+purpose+"-"+pid+"-")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, markerName), []byte(pid+"\n"), 0o600); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// removeWorkDir removes a work dir, refusing if anything is still mounted
// under it: RemoveAll would otherwise descend into the mount.
func removeWorkDir(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("%s still has mounts %v; not removing it", dir, mounts)
	}
	return os.RemoveAll(dir)
}

// mountsUnder returns the mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	under, err := mountEntriesUnder(dir)
	var points []string
	for _, m := range under {
		points = append(points, m.point)
	}
	return points, err
}

// mountEntriesUnder returns the mounts at or below dir, deepest first.
func mountEntriesUnder(dir string) ([]mountEntry, error) {
	all, err := mountEntries()
	if err != nil {
		return nil, err
	}
	var under []mountEntry
	for _, m := range all {
		if m.point == dir || strings.HasPrefix(m.point, dir+"/") {
			under = append(under, m)
		}
	}
	// Deepest first, so nested mounts come off before their parents; of
	// mounts stacked on one point, the newest first.
	slices.Reverse(under)
	slices.SortStableFunc(under, func(a, b mountEntry) int { return len(b.point) - len(a.point) })
	return under, nil
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	point, fstype, source string
	minor                 uint32 // for FUSE, the connection's id
}

// mountEntries reads /proc/self/mountinfo, oldest mount first. Nothing
// in it touches the mounts themselves, so a hung FUSE mount cannot hang
// it.
func mountEntries() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var all []mountEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mount-point options ... - fstype source super-options
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		m := mountEntry{point: unescapeMountinfo(fields[4])}
		if _, minor, ok := strings.Cut(fields[2], ":"); ok {
			n, _ := strconv.ParseUint(minor, 10, 32)
			m.minor = uint32(n)
		}
		if i := slices.Index(fields, "-"); i >= 0 && i+2 < len(fields) {
			m.fstype, m.source = fields[i+1], unescapeMountinfo(fields[i+2])
		}
		all = append(all, m)
	}
	return all, sc.Err()
}

// mountPoints lists the mount points in /proc/self/mountinfo.
func mountPoints() ([]string, error) {
	all, err := mountEntries()
	var points []string
	for _, m := range all {
		points = append(points, m.point)
	}
	return points, err
}

// mountSource returns the source (the device) mounted at target.
func mountSource(target string) (string, error) {
	all, err := mountEntries()
	if err != nil {
		return "", err
	}
	source := ""
	for _, m := range all {
		if m.point == target {
			source = m.source // the last mount at target wins
		}
	}
	if source == "" {
		return "", fmt.Errorf("%s is not a mount point", target)
	}
	return source, nil
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmount unmounts target, falling back to a lazy detach when it is busy.
func unmount(target string) error {
	err := unix.Unmount(target, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(target, unix.MNT_DETACH)
	}
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil // not mounted (any more)
	}
	return err
}

// Cleanup removes what interrupted earlier runs left behind: temp dirs
// named spillbench-* in tmp and marked by a process that no longer runs
// (a zombie does not), with every mount under them (a FUSE mount's
// connection aborted first, so a server that died mid-request cannot
// hang the unmount) and every loop device backed by a file in them. It
// touches nothing without the marker (except an empty dir named by a dead
// PID in the program's own pattern: one killed before its marker was
// written), and nothing of a live process. It returns what it removed.
func Cleanup(tmp string) ([]string, error) {
	if tmp == "" {
		tmp = os.TempDir()
	}
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return nil, err
	}
	// External targets first: a process left running would hold the
	// mounts below busy.
	removed, err := cleanupAllTargets(tmp, ents)
	errs := []error{err}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		pid, ok := markerPID(dir)
		if !ok {
			if pid, ok := unmarkedOwner(dir); ok && !processAlive(pid) {
				os.Remove(filepath.Join(dir, markerName))
				if err := os.Remove(dir); err == nil {
					removed = append(removed, "dir "+dir)
				}
			}
			continue
		}
		if processAlive(pid) {
			continue
		}
		r, err := cleanDir(dir)
		removed = append(removed, r...)
		errs = append(errs, err)
	}
	return removed, errors.Join(errs...)
}

// cleanDir unmounts, detaches and removes what a dead run left in dir.
func cleanDir(dir string) ([]string, error) {
	var removed []string
	mounts, err := mountEntriesUnder(dir)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, m := range mounts {
		if m.fstype == "fuse" || strings.HasPrefix(m.fstype, "fuse.") {
			if err := abortFuseConn(m.minor, dir); err != nil {
				errs = append(errs, fmt.Errorf("abort the FUSE connection of %s: %w", m.point, err))
			}
		}
		if err := unmount(m.point); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m.point, err))
			continue
		}
		removed = append(removed, "mount "+m.point)
	}
	for _, dev := range loopDevicesBackedUnder(dir) {
		if err := detachLoop(dev); err != nil {
			errs = append(errs, fmt.Errorf("detach %s: %w", dev, err))
			continue
		}
		removed = append(removed, "loop "+dev)
	}
	if err := removeWorkDir(dir); err != nil {
		return removed, errors.Join(append(errs, err)...)
	}
	return append(removed, "dir "+dir), errors.Join(errs...)
}

// unmarkedOwner is the PID in the name of a dir without a (complete)
// marker, if the name is the program's own pattern and the dir holds
// nothing but an empty marker: a dir made by markedTempDir whose process
// was killed before it wrote the marker.
func unmarkedOwner(dir string) (int, bool) {
	parts := strings.Split(strings.TrimPrefix(filepath.Base(dir), tempPrefix), "-")
	if len(parts) < 3 {
		return 0, false
	}
	pid, err := strconv.Atoi(parts[len(parts)-2])
	if _, rerr := strconv.ParseUint(parts[len(parts)-1], 10, 64); err != nil || rerr != nil || pid <= 0 {
		return 0, false
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) > 1 || (len(ents) == 1 && ents[0].Name() != markerName) {
		return 0, false
	}
	if len(ents) == 1 {
		if info, err := ents[0].Info(); err != nil || info.Size() != 0 {
			return 0, false
		}
	}
	return pid, true
}

// processAlive says whether pid names a process that can still run code.
// A zombie cannot, nor can a process whose main thread has exited while
// another thread is stuck in the kernel (a killed process waiting on a
// FUSE request): /proc shows both in state Z. (The program is in Go,
// whose main thread lives as long as the process does.)
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := unix.Kill(pid, 0); err != nil && !errors.Is(err, unix.EPERM) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// pid (comm) state ...; comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return true
	}
	state := b[i+2]
	return state != 'Z' && state != 'X' && !killPending(pid)
}

// killPending reports whether pid has a SIGKILL pending: it is dying,
// only held up, like a process whose thread waits in the kernel on a
// FUSE server that cannot answer until cleanup aborts the connection.
func killPending(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	return err == nil && sigkillPending(b)
}

// sigkillPending reads /proc/PID/status text: is SIGKILL in the pending
// set of the process (ShdPnd) or of its main thread (SigPnd)?
func sigkillPending(status []byte) bool {
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "ShdPnd" && k != "SigPnd") {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err == nil && mask&(1<<(unix.SIGKILL-1)) != 0 {
			return true
		}
	}
	return false
}
