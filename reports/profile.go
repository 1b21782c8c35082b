package reports

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/google/pprof/profile"
)

// Categories attribute a sample to what the spill machinery was doing.
// The rules are this one table, applied in three steps:
//
//  1. A stack with a frame of the garbage collector (GCFrames) is GC work,
//     whatever called it: allocation pays for collection.
//  2. The runtime function our code called decides whether the sample is
//     the runtime's own work: the outermost of the runtime frames at the
//     leaf end of the stack. Unless it is a helper that works for its
//     caller (HelperFrames: memmove, map access, hashing, slice growth,
//     stack growth, a system call's entry), the sample is scheduling:
//     goroutines parking and waking, channels, locks. A stack of nothing
//     but runtime frames (the scheduler's own loop) is scheduling too.
//  3. Otherwise the first rule that matches a frame, tried from the leaf
//     to the root, wins: a memmove inside a checksum is the checksum's.
//     A stack no rule matches is other.
//
// The last two rules catch the engine's own code that no earlier rule
// names: the producer, the gate and the consumer's verification are the
// pipeline; the spill buffer's bookkeeping is its own.
var Categories = []struct {
	Name  string
	Match []string // prefixes, or "~fragment" for a substring
}{
	{"write syscalls", []string{"syscall.pwrite", "internal/poll.(*FD).Pwrite", "os.(*File).WriteAt", "os.(*File).Write"}},
	{"read syscalls", []string{"syscall.pread", "internal/poll.(*FD).Pread", "os.(*File).ReadAt", "os.(*File).Read"}},
	{"compression", []string{"github.com/klauspost/compress/"}},
	{"encode/decode", []string{"github.com/spillbench/spillbench/spill.appendEntry", "github.com/spillbench/spillbench/spill.finishRecord",
		"github.com/spillbench/spillbench/spill.parseEntries", "github.com/spillbench/spillbench/spill.header.decodePayload",
		"github.com/spillbench/spillbench/spill.recordCRC", "github.com/spillbench/spillbench/engine.ResultCodec", "hash/crc32."}},
	{"reorder ring", []string{"github.com/spillbench/spillbench/spill.(*Ring"}},
	{"strategy (checksum, delta)", []string{"github.com/spillbench/spillbench/engine.ComputeDelta", "github.com/spillbench/spillbench/engine.(*matcher)",
		"github.com/spillbench/spillbench/engine.checksum", "crypto/", "github.com/spillbench/spillbench/engine.ApplyDelta",
		"github.com/spillbench/spillbench/engine.appendApplied", "hash/maphash."}},
	{Scheduling, []string{"runtime.", "internal/runtime/", "internal/sync.", "sync.", "internal/bytealg.", "aeshashbody"}},
	{"spill buffer", []string{"github.com/spillbench/spillbench/spill."}},
	{"pipeline (dispatch, gate, verify)", []string{"github.com/spillbench/spillbench/engine."}},
	{GC, nil}, // by GCFrames, not by name
}

// The categories of the runtime's work: the garbage collector's, and the
// scheduler's with the synchronisation around it.
const (
	GC         = "GC"
	Scheduling = "scheduling"
)

// HelperFrames are runtime frames that do their caller's work: a sample
// in one belongs to the first frame above it that is not the runtime's.
var HelperFrames = []string{"runtime.memmove", "runtime.memclr", "runtime.memequal", "runtime.cmpbody", "internal/bytealg.",
	"runtime.map", "internal/runtime/maps.", "runtime.aeshash", "aeshashbody", "runtime.growslice", "runtime.makeslice",
	"runtime.slicebytetostring", "runtime.concatstring", "runtime.typedmemmove", "runtime.typedslicecopy", "runtime.duff",
	"runtime.wbBuf", "runtime.bulkBarrier", "runtime.gcWriteBarrier", "runtime.nanotime", "runtime.walltime", "runtime.panicIndex",
	"runtime.morestack",
	// A system call's way in and out is the caller's I/O.
	"internal/runtime/syscall/", "runtime.entersyscall", "runtime.exitsyscall", "runtime.reentersyscall"}

// GCFrames are the frames that make a sample the garbage collector's.
var GCFrames = []string{"runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.mallocgc", "runtime.bgsweep", "runtime.bgscavenge", "runtime.GC",
	"runtime.wbBufFlush"} // the write barrier's buffer flush greys objects: marking

// Attribution is one profile's time (or bytes) by category and function.
type Attribution struct {
	Profile    string
	Unit       string // the sample value's unit: nanoseconds, bytes
	Total      int64
	Samples    int64 // samples taken, for a CPU profile: what its shares stand on
	Categories map[string]int64
	Flat, Cum  map[string]int64 // by function
}

// ReadProfile parses a pprof profile file, with an error naming it.
func ReadProfile(path string) (*profile.Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: not a pprof profile: %v", path, err)
	}
	if len(p.SampleType) == 0 {
		return nil, fmt.Errorf("%s: profile has no sample types", path)
	}
	return p, nil
}

// MergeProfiles merges the profiles of a cell's repetitions.
func MergeProfiles(paths []string) (*profile.Profile, error) {
	var ps []*profile.Profile
	for _, path := range paths {
		p, err := ReadProfile(path)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return profile.Merge(ps)
}

// Attribute sums a profile's default sample value (cpu nanoseconds for a
// CPU profile, in-use bytes for a heap profile) by category and by
// function, flat (the leaf) and cumulative (anywhere on the stack, once
// per sample).
func Attribute(name string, p *profile.Profile) Attribution {
	vi := len(p.SampleType) - 1
	if p.DefaultSampleType != "" {
		for i, st := range p.SampleType {
			if st.Type == p.DefaultSampleType {
				vi = i
			}
		}
	}
	a := Attribution{Profile: name, Unit: p.SampleType[vi].Unit, Categories: map[string]int64{},
		Flat: map[string]int64{}, Cum: map[string]int64{}}
	ci := slices.IndexFunc(p.SampleType, func(st *profile.ValueType) bool { return st.Type == "samples" })
	for _, s := range p.Sample {
		v := s.Value[vi]
		a.Total += v
		if ci >= 0 {
			a.Samples += s.Value[ci]
		}
		var stack []string
		for _, loc := range s.Location {
			for i := len(loc.Line) - 1; i >= 0; i-- { // inlined frames, innermost first
				if loc.Line[i].Function != nil {
					stack = append(stack, loc.Line[i].Function.Name)
				}
			}
		}
		if len(stack) > 0 {
			a.Flat[stack[0]] += v
		}
		seen := map[string]bool{}
		for _, fn := range stack {
			if !seen[fn] {
				seen[fn] = true
				a.Cum[fn] += v
			}
		}
		a.Categories[categorize(stack)] += v
	}
	return a
}

func categorize(stack []string) string {
	for _, fn := range stack {
		for _, g := range GCFrames {
			if strings.HasPrefix(fn, g) {
				return GC
			}
		}
	}
	if len(stack) == 0 {
		return "other"
	}
	// The runtime's frames at the leaf, and the one of them our code
	// called: a helper working for its caller, or the runtime's own work.
	user := 0
	for user < len(stack) && isRuntime(stack[user]) {
		user++
	}
	if user == len(stack) || user > 0 && !matches(stack[user-1], HelperFrames) {
		return Scheduling
	}
	for _, fn := range stack[user:] {
		if isRuntime(fn) {
			continue
		}
		for _, c := range Categories {
			if c.Name != Scheduling && matches(fn, c.Match) {
				return c.Name
			}
		}
	}
	return "other"
}

// isRuntime reports whether fn is the Go runtime's or its sync
// primitives': frames that belong to whatever called them.
func isRuntime(fn string) bool {
	for _, c := range Categories {
		if c.Name == Scheduling {
			return matches(fn, c.Match)
		}
	}
	return false
}

func matches(fn string, rules []string) bool {
	for _, m := range rules {
		if frag, ok := strings.CutPrefix(m, "~"); ok && strings.Contains(fn, frag) || strings.HasPrefix(fn, m) {
			return true
		}
	}
	return false
}

// FuncValue is a function and its value.
type FuncValue struct {
	Func  string
	Value int64
}

// Top returns the n functions with the highest values, ties by name.
func Top(m map[string]int64, n int) []FuncValue {
	var fs []FuncValue
	for f, v := range m {
		fs = append(fs, FuncValue{f, v})
	}
	sort.Slice(fs, func(i, j int) bool {
		if fs[i].Value != fs[j].Value {
			return fs[i].Value > fs[j].Value
		}
		return fs[i].Func < fs[j].Func
	})
	return fs[:min(n, len(fs))]
}

// Shift is a function's part in the change between two profiles.
type Shift struct {
	Func     string
	Old, New int64
	// Share is the part of the total change this function's flat change
	// explains: (new-old) / (total new - total old).
	Share float64
}

// Diff compares two attributions function by function (flat values,
// each profile normalized per run by runs), largest change first.
func Diff(a, b Attribution, runsA, runsB int) []Shift {
	runsA, runsB = max(runsA, 1), max(runsB, 1)
	delta := float64(b.Total)/float64(runsB) - float64(a.Total)/float64(runsA)
	var funcs []string
	for f := range a.Flat {
		funcs = append(funcs, f)
	}
	for f := range b.Flat {
		if _, ok := a.Flat[f]; !ok {
			funcs = append(funcs, f)
		}
	}
	slices.Sort(funcs)
	var shifts []Shift
	for _, f := range funcs {
		o, n := a.Flat[f]/int64(runsA), b.Flat[f]/int64(runsB)
		if o == n {
			continue
		}
		s := Shift{Func: f, Old: o, New: n}
		if delta != 0 {
			s.Share = float64(n-o) / delta
		}
		shifts = append(shifts, s)
	}
	sort.SliceStable(shifts, func(i, j int) bool {
		return abs(shifts[i].New-shifts[i].Old) > abs(shifts[j].New-shifts[j].Old)
	})
	return shifts
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
