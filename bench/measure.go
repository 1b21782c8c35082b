package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/google/pprof/profile"
	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/internal/atomicfile"
)

// machine is a reading of what the process and the host have spent so
// far: the process's CPU time, and the host's CPU ticks, stolen ones
// apart. Two readings bracket a repetition.
type machine struct {
	cpu          time.Duration // user and system time of this process
	steal, total uint64        // host CPU ticks stolen by the hypervisor, and all ticks
	stealKnown   bool
}

func readMachine() machine {
	var m machine
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		m.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	m.steal, m.total, m.stealKnown = readStealTicks()
	return m
}

// readStealTicks reads the host's CPU ticks from /proc/stat: the steal
// column and the sum of every column.
func readStealTicks() (steal, total uint64, ok bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return 0, 0, false
	}
	return parseStealTicks(line)
}

// parseStealTicks reads the aggregate "cpu" line of /proc/stat: user nice
// system idle iowait irq softirq steal guest guest_nice. Guest time is
// already counted in user and nice, so it is left out of the total.
func parseStealTicks(line string) (steal, total uint64, ok bool) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, false
	}
	for i, s := range f[1:min(len(f), 9)] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += v
		if i == 7 {
			steal = v
		}
	}
	return steal, total, true
}

// since returns the CPU time spent between m0 and m, and the share of the
// host's CPU ticks the hypervisor stole (0 where /proc/stat is unreadable).
func (m machine) since(m0 machine) (cpu time.Duration, steal float64) {
	cpu = m.cpu - m0.cpu
	if m.stealKnown && m0.stealKnown && m.total > m0.total {
		steal = float64(m.steal-m0.steal) / float64(m.total-m0.total)
	}
	return cpu, steal
}

// gcDue reports whether allocating need more bytes could start a garbage
// collection: whether the heap, live and dead, is within need of the
// collector's goal.
func gcDue(need uint64) bool {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/goal:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 || sample[1].Value.Kind() != metrics.KindUint64 {
		return true
	}
	heap, goal := sample[0].Value.Uint64(), sample[1].Value.Uint64()
	return heap+need >= goal
}

// gcCycles is how many garbage collections the process has completed.
func gcCycles() uint64 {
	sample := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// ProfileHz is the CPU profile's sampling rate. runtime/pprof samples at
// a fixed 100 Hz, which gives a repetition of 150 ms a dozen samples; a
// report attributing time needs a thousand behind every group it shows.
// Linux's per-thread timers deliver 500 Hz faithfully, and the cost of a
// sample (a frame-pointer unwind) stays well under 1% of a CPU.
const ProfileHz = 500

// startCPUProfile starts pprof's CPU profile writing to w at ProfileHz.
//
// runtime/pprof has no way to choose the rate, but keeps one already set:
// setting the runtime's rate first works, and the runtime then prints
// "cannot set cpu profile rate until previous profile has finished" on
// file descriptor 2. The warning is expected and harmless, so standard
// error points at /dev/null for the length of the call. Nothing else of
// the sweep writes to standard error meanwhile: progress is written from
// this same goroutine, between runs. Where the redirection is impossible
// the profile runs at pprof's own 100 Hz.
func startCPUProfile(w io.Writer) error {
	null, err := unix.Open(os.DevNull, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return pprof.StartCPUProfile(w)
	}
	defer unix.Close(null)
	saved, err := unix.Dup(2)
	if err != nil {
		return pprof.StartCPUProfile(w)
	}
	defer unix.Close(saved)
	if err := unix.Dup2(null, 2); err != nil {
		return pprof.StartCPUProfile(w)
	}
	runtime.SetCPUProfileRate(ProfileHz)
	err = pprof.StartCPUProfile(w)
	if err != nil {
		runtime.SetCPUProfileRate(0) // pprof did not take the profile over
	}
	if derr := unix.Dup2(saved, 2); derr != nil {
		if err == nil {
			pprof.StopCPUProfile() // an error means no profile runs
		}
		return errors.Join(err, fmt.Errorf("restoring standard error after starting the profile: %w", derr))
	}
	return err
}

// profileMerger accumulates the CPU profiles of a cell's repetitions, to
// be merged and written once the sweep ends, interrupted or not: writing
// a growing merge after every repetition cost more than the profiling.
type profileMerger struct {
	path  string
	parts []*profile.Profile
}

// add keeps one repetition's profile, given as pprof's encoded bytes.
func (m *profileMerger) add(path string, encoded []byte) error {
	p, err := profile.Parse(bytes.NewReader(encoded))
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	m.path = path
	m.parts = append(m.parts, p)
	return nil
}

// write merges what was added and writes it.
func (m *profileMerger) write() error {
	if len(m.parts) == 0 {
		return nil
	}
	p, err := profile.Merge(m.parts)
	if err != nil {
		return fmt.Errorf("merging cpu profiles: %w", err)
	}
	m.parts = nil
	return writeProfileFile(m.path, p)
}

// writeProfileFile writes p to path through a temporary file and a
// rename, so a reader never sees half a profile.
func writeProfileFile(path string, p *profile.Profile) error {
	return atomicfile.Write(path, 0o644, func(f *os.File) error { return p.Write(f) })
}
