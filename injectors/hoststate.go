package injectors

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HostState is what a run must leave as it found: mount points, attached
// loop devices and this process's open file descriptors.
type HostState struct {
	Mounts []string
	Loops  []string // "device backing-file"
	FDs    []string // what each open descriptor refers to
}

// CurrentHostState reads the host state from /proc and /sys.
func CurrentHostState() HostState {
	var s HostState
	s.Mounts, _ = mountPoints()
	for _, b := range loopBackings() {
		s.Loops = append(s.Loops, b.dev+" "+b.file)
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, e := range ents {
			if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
				s.FDs = append(s.FDs, target)
			}
		}
	}
	return s
}

// LeaksNow is LeaksNowOf this process.
func (s HostState) LeaksNow() []string { return s.LeaksNowOf(os.Getpid()) }

// LeaksNowOf is Leaks against the current state, counting only the
// mounts and loop devices process pid made: those under a temp dir named
// with its PID (spillbench-<purpose>-<pid>-*). Other processes on the
// host, tests of other packages included, mount and unmount as they
// please meanwhile. It retries for up to a second while anything is
// left: loop devices with autoclear detach asynchronously after their
// unmount.
func (s HostState) LeaksNowOf(pid int) []string {
	leaks := s.Leaks(CurrentHostState().madeBy(pid))
	for i := 0; i < 50 && len(leaks) > 0; i++ {
		time.Sleep(20 * time.Millisecond)
		leaks = s.Leaks(CurrentHostState().madeBy(pid))
	}
	return leaks
}

// madeBy keeps the mounts and loop devices under a temp dir named with
// pid, and every descriptor.
func (s HostState) madeBy(pid int) HostState {
	mark := "-" + strconv.Itoa(pid) + "-"
	ours := func(path string) bool {
		for _, part := range strings.Split(path, "/") {
			if strings.HasPrefix(part, tempPrefix) && strings.Contains(part, mark) {
				return true
			}
		}
		return false
	}
	out := HostState{FDs: s.FDs}
	for _, m := range s.Mounts {
		if ours(m) {
			out.Mounts = append(out.Mounts, m)
		}
	}
	for _, l := range s.Loops {
		if _, file, _ := strings.Cut(l, " "); ours(file) {
			out.Loops = append(out.Loops, l)
		}
	}
	return out
}

// Leaks lists what after has that s had not: mounts, loop devices, and
// file descriptors (by count).
func (s HostState) Leaks(after HostState) []string {
	var leaks []string
	for _, m := range after.Mounts {
		if !slices.Contains(s.Mounts, m) {
			leaks = append(leaks, "mount "+m)
		}
	}
	for _, l := range after.Loops {
		if !slices.Contains(s.Loops, l) {
			leaks = append(leaks, "loop "+l)
		}
	}
	before := slices.Clone(s.FDs)
	for _, fd := range after.FDs {
		if i := slices.Index(before, fd); i >= 0 {
			before = slices.Delete(before, i, i+1)
			continue
		}
		if !strings.HasPrefix(fd, "/proc/") { // ReadDir's own descriptor
			leaks = append(leaks, "open file "+fd)
		}
	}
	return leaks
}
