package injectors

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/spill"
)

// External targets: a program of someone else's, run by bench in its own
// process group with its spill directory on a mechanism's mount. The
// kernel mechanisms reach it as they reach the engine; the ones that pick
// their moment from the spill.FS seam (vanish) pick it instead from what
// the program does in its spill directory, as inotify reports it.

// SpillOp is what an external process did to a file in its spill
// directory.
type SpillOp int

const (
	SpillCreate SpillOp = iota // a file appeared
	SpillWrite                 // a write to it (IN_MODIFY)
	SpillRead                  // a read from it (IN_ACCESS)
)

// SpillEvent is one thing an external process did in its spill
// directory.
type SpillEvent struct {
	Op   SpillOp
	Path string
}

// ObserveExternal hands an event of an external target's spill directory
// to the mechanism, for the mechanisms that time their fault by the
// target's activity: vanish counts writes (record writes for the engine)
// and reads (reloads), and names the file it unlinks or replaces after
// the one the target is writing. Other mechanisms ignore it.
func ObserveExternal(inj Injector, ev SpillEvent) {
	v, ok := inj.(*Vanish)
	if !ok {
		return
	}
	switch ev.Op {
	case SpillCreate, SpillWrite:
		v.mu.Lock()
		if !v.fired {
			v.named = ev.Path
		}
		v.mu.Unlock()
		if ev.Op == SpillWrite {
			v.tick(spill.SiteRecordWrite)
		}
	case SpillRead:
		v.tick(spill.SiteReloadHeader)
	}
}

// pgidFile, in a target's work dir, holds the process group the target
// runs in, so Cleanup can end what a killed sweep left running.
const pgidFile = "target.pgid"

// NewTargetDir creates a marked work dir for one run of an external
// target (its scratch, output and, without a fault, spill directory),
// registered so teardown, the signal handler and Cleanup remove it. The
// handle removes it.
func NewTargetDir(kind string) (string, Handle, error) {
	var o owned
	dir, err := newWorkDir(&o, kind)
	if err != nil {
		return "", Handle{}, err
	}
	return dir, o.handles[0], nil
}

// RecordTargetGroup notes in a work dir made by NewTargetDir the process
// group its target runs in.
func RecordTargetGroup(dir string, pgid int) error {
	return os.WriteFile(filepath.Join(dir, pgidFile), []byte(strconv.Itoa(pgid)+"\n"), 0o600)
}

// KillGroup kills process group pgid with SIGKILL and waits until no
// process of it is left alive, reaping those that are this process's
// children (with the child subreaper set, orphans of the group are too).
// A zombie whose parent does not reap it (an init that never waits) is
// dead and counts as gone. It gives up after limit with an error naming
// the group.
func KillGroup(pgid int, limit time.Duration) error {
	if pgid <= 1 {
		return fmt.Errorf("refusing to kill process group %d", pgid)
	}
	deadline := time.Now().Add(limit)
	for {
		err := unix.Kill(-pgid, unix.SIGKILL)
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		for {
			var ws unix.WaitStatus
			pid, werr := unix.Wait4(-pgid, &ws, unix.WNOHANG, nil)
			if pid <= 0 || werr != nil {
				break
			}
		}
		if alive, ours := groupState(pgid); !alive && !ours {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process group %d still has processes after SIGKILL and %v", pgid, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// cleanupTargets kills the process groups recorded in dir (a dead
// sweep's work dir) and returns what it killed. A group whose processes
// are gone, or were never spillbench's, is left alone: the group must
// still be led by, or hold, a process whose working directory is inside
// dir.
func cleanupTargets(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, pgidFile))
	if err != nil {
		return nil, nil
	}
	pgid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pgid <= 1 {
		return nil, nil
	}
	if !groupWorksIn(pgid, dir) {
		return nil, nil
	}
	if err := KillGroup(pgid, 10*time.Second); err != nil {
		return nil, err
	}
	return []string{"process group " + strconv.Itoa(pgid)}, nil
}

// groupWorksIn reports whether some process of group pgid has its
// working directory in dir: the target's own, not a process that reused
// the number.
func groupWorksIn(pgid int, dir string) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if g, err := unix.Getpgid(pid); err != nil || g != pgid {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err == nil && (cwd == dir || strings.HasPrefix(cwd, dir+"/")) {
			return true
		}
	}
	return false
}

// cleanupAllTargets ends the external targets recorded in the work dirs
// of dead sweeps in tmp.
func cleanupAllTargets(tmp string, ents []os.DirEntry) ([]string, error) {
	var killed []string
	var errs []error
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		pidText, err := os.ReadFile(filepath.Join(dir, markerName))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
		if err != nil || processAlive(pid) {
			continue
		}
		k, err := cleanupTargets(dir)
		killed = append(killed, k...)
		errs = append(errs, err)
	}
	return killed, errors.Join(errs...)
}

// LeftBy lists what process pid left behind that spillbench creates: its
// work dirs in tmp (the temp dir if empty), the mounts under them, the
// loop devices backed by files in them, and processes working in them.
// A run that released everything leaves nothing.
func LeftBy(tmp string, pid int) []string {
	if tmp == "" {
		tmp = os.TempDir()
	}
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return []string{err.Error()}
	}
	var left []string
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, markerName))
		if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
			continue
		}
		left = append(left, "dir "+dir)
		mounts, _ := mountsUnder(dir)
		for _, m := range mounts {
			left = append(left, "mount "+m)
		}
		for _, dev := range loopDevicesBackedUnder(dir) {
			left = append(left, "loop "+dev)
		}
		if procs, _ := os.ReadDir("/proc"); procs != nil {
			for _, p := range procs {
				cwd, err := os.Readlink(filepath.Join("/proc", p.Name(), "cwd"))
				if err == nil && strings.HasPrefix(cwd, dir+"/") {
					left = append(left, "process "+p.Name()+" in "+cwd)
				}
			}
		}
	}
	return left
}

// GroupAlive reports whether process group pgid has a process that is
// not a zombie.
func GroupAlive(pgid int) bool {
	alive, _ := groupState(pgid)
	return alive
}

// groupState says whether process group pgid has a live process, and
// whether it has a zombie this process should reap (its child: with the
// subreaper set, the group's orphans are).
func groupState(pgid int) (alive, ourZombie bool) {
	if err := unix.Kill(-pgid, 0); errors.Is(err, unix.ESRCH) {
		return false, false
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return true, false
	}
	me := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces and
		// parentheses, so read after the last ')'.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 || f[2] != strconv.Itoa(pgid) {
			continue
		}
		if f[0] != "Z" && f[0] != "X" {
			return true, ourZombie
		}
		ourZombie = ourZombie || f[1] == me
	}
	return false, ourZombie
}
