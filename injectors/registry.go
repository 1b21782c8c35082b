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

// markerName marks a directory as an injector's work dir. It holds the
// creating process's PID, so Cleanup can tell a live run from a dead one.
const markerName = ".spillbench-injector"

// workPrefix starts the name of every injector work dir.
const workPrefix = "spillbench-inj-"

// newWorkDir creates a marked work dir in the temp dir and registers its
// removal. Everything an injector creates on disk lives under it.
func newWorkDir(o *owned, mech string) (string, error) {
	dir, err := os.MkdirTemp("", workPrefix+mech+"-")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, markerName), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	o.add("dir", dir, func() error { return removeWorkDir(dir) })
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
	all, err := mountPoints()
	if err != nil {
		return nil, err
	}
	var under []string
	for _, m := range all {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			under = append(under, m)
		}
	}
	// Deepest first, so nested mounts come off before their parents.
	for i := 0; i < len(under); i++ {
		for j := i + 1; j < len(under); j++ {
			if len(under[j]) > len(under[i]) {
				under[i], under[j] = under[j], under[i]
			}
		}
	}
	return under, nil
}

// mountPoints lists the mount points in /proc/self/mountinfo.
func mountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			points = append(points, unescapeMountinfo(fields[4]))
		}
	}
	return points, sc.Err()
}

// mountSource returns the source (the device) mounted at target.
func mountSource(target string) (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	source := ""
	for sc.Scan() {
		// ... mount-point ... - fstype source options
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || unescapeMountinfo(fields[4]) != target {
			continue
		}
		for i, fld := range fields {
			if fld == "-" && i+2 < len(fields) {
				source = unescapeMountinfo(fields[i+2]) // the last mount at target wins
			}
		}
	}
	if source == "" {
		return "", fmt.Errorf("%s is not a mount point", target)
	}
	return source, sc.Err()
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

// Cleanup removes what interrupted earlier runs left behind: work dirs in
// tmp marked by a process that no longer exists, with every mount under
// them and every loop device backed by a file in them. It touches nothing
// without the marker, and nothing of a live process. It returns what it
// removed.
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
		if !e.IsDir() || !strings.HasPrefix(e.Name(), workPrefix) {
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		pidText, err := os.ReadFile(filepath.Join(dir, markerName))
		if err != nil {
			continue // no marker: not ours
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
		if err != nil || processAlive(pid) {
			continue
		}
		mounts, err := mountsUnder(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, m := range mounts {
			if err := unmount(m); err != nil {
				errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
				continue
			}
			removed = append(removed, "mount "+m)
		}
		for _, dev := range loopDevicesBackedUnder(dir) {
			if err := detachLoop(dev); err != nil {
				errs = append(errs, fmt.Errorf("detach %s: %w", dev, err))
				continue
			}
			removed = append(removed, "loop "+dev)
		}
		if err := removeWorkDir(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, "dir "+dir)
	}
	return removed, errors.Join(errs...)
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
