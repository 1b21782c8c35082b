package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/injectors"
)

// procRun is what one run of an external command did.
type procRun struct {
	PGID      int    // the process group it ran in
	Exit      int    // its exit code, or 128+signal
	Signal    string // the signal that ended it, if one did
	Wall      time.Duration
	User, Sys time.Duration // its CPU time and its waited-for descendants'
	MaxRSS    int64         // bytes: the largest resident set among them, sampled
	// Others is the share of the host's CPU capacity that processes
	// other than the target and spillbench used during the run: what
	// competed with it on a shared host.
	Others    float64
	TimedOut  bool // killed at the time limit
	Cancelled bool // killed because the sweep was interrupted
}

// groupKillLimit bounds how long a killed process group may take to go.
const groupKillLimit = 10 * time.Second

var subreaper sync.Once

// runGroup runs `sh -c command` in dir, in a process group of its own,
// with stdin and stdout on /dev/null and stderr into stderrPath. The run
// is killed (the whole group, with SIGKILL) at limit or when ctx ends.
// Whatever way it ends, runGroup returns only once no process of the
// group is left: nothing it started holds a mount a caller then
// releases. The group is registered with injectors.Resources while it
// runs, and recorded in workDir for spillbench cleanup.
func runGroup(ctx context.Context, command, dir, workDir, stderrPath string, limit time.Duration) (procRun, error) {
	// Orphans of the group (a shell's background jobs) are reparented to
	// this process, not to an init that may not reap them, so the group
	// can be waited for to the last process.
	subreaper.Do(func() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) })
	var run procRun
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return run, err
	}
	defer devnull.Close()
	stderr, err := os.Create(stderrPath)
	if err != nil {
		return run, err
	}
	defer stderr.Close()
	busy0, total0, _ := cpuTicks()
	self0 := selfCPU()
	start := time.Now()
	p, err := os.StartProcess("/bin/sh", []string{"sh", "-c", command}, &os.ProcAttr{
		Dir:   dir,
		Files: []*os.File{devnull, devnull, stderr},
		// Its own group: a Ctrl-C at the terminal reaches spillbench,
		// which kills the group. Pdeathsig ends the shell (or the
		// program it execs) if spillbench itself is killed.
		Sys: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		return run, fmt.Errorf("start %s: %w", command, err)
	}
	pgid := p.Pid
	run.PGID = pgid
	rss := sampleRSS(p.Pid, 5*time.Millisecond)
	h := injectors.Resources.Add("process group", strconv.Itoa(pgid), func() error { return injectors.KillGroup(pgid, groupKillLimit) })
	recErr := injectors.RecordTargetGroup(workDir, pgid)

	type waited struct {
		ws  unix.WaitStatus
		ru  unix.Rusage
		err error
	}
	done := make(chan waited, 1)
	go func() {
		var w waited
		for {
			_, w.err = unix.Wait4(p.Pid, &w.ws, 0, &w.ru)
			if !errors.Is(w.err, unix.EINTR) {
				break
			}
		}
		done <- w
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	var w waited
	select {
	case w = <-done:
	case <-timer.C:
		run.TimedOut = true
		_ = unix.Kill(-pgid, unix.SIGKILL)
		w = <-done
	case <-ctx.Done():
		run.Cancelled = true
		_ = unix.Kill(-pgid, unix.SIGKILL)
		w = <-done
	}
	run.Wall = time.Since(start)
	busy1, total1, ticksOK := cpuTicks()
	self := selfCPU() - self0
	run.MaxRSS = rss.finish()
	// The leader is gone; anything it left in its group goes too.
	killErr := h.Release()
	_ = p.Release()
	if w.err != nil {
		return run, errors.Join(fmt.Errorf("wait for %s: %w", command, w.err), killErr, recErr)
	}
	run.User = time.Duration(w.ru.Utime.Nano())
	run.Sys = time.Duration(w.ru.Stime.Nano())
	if ticksOK && total1 > total0 {
		// The ticks count every CPU: busy/total is the busy share of
		// the host's capacity over the run.
		capacity := run.Wall.Seconds() * float64(runtime.NumCPU())
		busy := float64(busy1-busy0) / float64(total1-total0) * capacity
		run.Others = max(0, (busy-(run.User+run.Sys+self).Seconds())/capacity)
	}
	switch {
	case w.ws.Signaled():
		run.Signal = unix.SignalName(w.ws.Signal())
		run.Exit = 128 + int(w.ws.Signal())
	default:
		run.Exit = w.ws.ExitStatus()
	}
	return run, errors.Join(killErr, recErr)
}

// stderrTail is the last n lines of a file, each cut to 300 bytes.
func stderrTail(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 64<<10 {
		_, _ = f.Seek(-64<<10, io.SeekEnd)
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		l := sc.Text()
		if strings.TrimSpace(l) == "" {
			continue
		}
		if len(l) > 300 {
			l = l[:300] + "..."
		}
		lines = append(lines, l)
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines
}

// errnoTexts are the messages strerror(3) gives for the errors a spill
// fault produces: how a program's stderr says which one it met.
var errnoTexts = []struct{ text, errno string }{
	{"No space left on device", "ENOSPC"},
	{"Disk quota exceeded", "EDQUOT"},
	{"Input/output error", "EIO"},
	{"File too large", "EFBIG"},
	{"No such file or directory", "ENOENT"},
	{"Transport endpoint is not connected", "ENOTCONN"},
	{"Software caused connection abort", "ECONNABORTED"},
	{"Stale file handle", "ESTALE"},
	{"Read-only file system", "EROFS"},
}

// stderrErrno finds the last errno message in lines, and the line: the
// one nearest the exit, which for a failed run is the error that ended it
// rather than a warning it wrote on the way.
func stderrErrno(lines []string) (errno, line string) {
	for _, l := range slices.Backward(lines) {
		for _, e := range errnoTexts {
			if strings.Contains(l, e.text) {
				return e.errno, l
			}
		}
	}
	return "", ""
}

// rssSampler follows the peak resident set of a process and its
// descendants from their VmHWM in /proc, every few milliseconds. The
// rusage of wait4 cannot give it: the child's maxrss starts from the
// address space it was forked with, and Go forks with CLONE_VM, so a
// small target would report spillbench's own peak.
type rssSampler struct {
	stop chan struct{}
	done chan int64
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan int64, 1)}
	go func() {
		var peak int64
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			peak = max(peak, treeHWM(pid, 0))
			select {
			case <-s.stop:
				s.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// finish stops sampling and returns the peak seen, in bytes.
func (s *rssSampler) finish() int64 {
	close(s.stop)
	return <-s.done
}

// treeHWM is the largest VmHWM among pid and its descendants, in bytes.
func treeHWM(pid, depth int) int64 {
	if depth > 16 {
		return 0
	}
	p := strconv.Itoa(pid)
	var peak int64
	if b, err := os.ReadFile("/proc/" + p + "/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				peak = kb * 1024
			}
		}
	}
	if b, err := os.ReadFile("/proc/" + p + "/task/" + p + "/children"); err == nil {
		for _, c := range strings.Fields(string(b)) {
			if cp, err := strconv.Atoi(c); err == nil {
				peak = max(peak, treeHWM(cp, depth+1))
			}
		}
	}
	return peak
}

// cpuTicks reads the host's busy and total CPU ticks, every CPU summed,
// from /proc/stat's "cpu" line (idle and iowait are not busy; guest time
// is already in user and nice).
func cpuTicks() (busy, total uint64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, false
	}
	for i, s := range f[1:9] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, true
}

// selfCPU is this process's CPU time so far.
func selfCPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
