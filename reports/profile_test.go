package reports

import (
	"math"
	"testing"

	"github.com/google/pprof/profile"
)

// fakeProfile builds a CPU profile whose samples have the given stacks
// (leaf first) and values.
func fakeProfile(stacks [][]string, values []int64) *profile.Profile {
	p := &profile.Profile{SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}}}
	funcs := map[string]*profile.Function{}
	for i, st := range stacks {
		var locs []*profile.Location
		for _, name := range st {
			f := funcs[name]
			if f == nil {
				f = &profile.Function{ID: uint64(len(funcs) + 1), Name: name}
				funcs[name] = f
				p.Function = append(p.Function, f)
			}
			loc := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: f}}}
			p.Location = append(p.Location, loc)
			locs = append(locs, loc)
		}
		p.Sample = append(p.Sample, &profile.Sample{Location: locs, Value: []int64{1, values[i]}})
	}
	return p
}

func TestAttributeByCategory(t *testing.T) {
	p := fakeProfile([][]string{
		{"internal/runtime/syscall/linux.Syscall6", "syscall.pwrite", "os.(*File).WriteAt", "github.com/spillbench/spillbench/spill.(*Buffer[...]).commit"},
		{"github.com/klauspost/compress/zstd.(*Encoder).EncodeAll", "github.com/spillbench/spillbench/spill.(*Buffer[...]).commit"},
		{"crypto/internal/fips140/sha256.blockSHANI", "crypto/sha256.Sum256", "github.com/spillbench/spillbench/engine.checksum"},
		{"runtime.mallocgc", "github.com/spillbench/spillbench/spill.appendEntry"},
		{"main.main"},
		// A runtime helper under the checksum is the checksum's; the
		// delta's matcher is the strategy; a channel send with nothing
		// of ours to blame is the runtime's; the collector is, however
		// deep in our code it starts.
		{"runtime.memmove", "github.com/spillbench/spillbench/engine.checksum"},
		{"github.com/spillbench/spillbench/engine.(*matcher).appendDelta", "github.com/spillbench/spillbench/engine.(*worker).process"},
		{"runtime.chansend1", "github.com/spillbench/spillbench/engine.(*pipeline).produce"},
		{"runtime.scanobject", "runtime.gcBgMarkWorker"},
		// Waiting on a lock is scheduling, whoever waits; the
		// scheduler's own loop has no caller of ours at all.
		{"internal/sync.(*Mutex).lockSlow", "sync.(*Mutex).Lock", "github.com/spillbench/spillbench/engine.(*gate).put", "runtime.goexit"},
		{"runtime.findRunnable", "runtime.schedule", "runtime.park_m", "runtime.mcall"},
		// The engine's and the buffer's own code, with a helper under
		// it, is theirs, although every goroutine has the runtime at
		// its root.
		{"github.com/spillbench/spillbench/engine.(*verifier).deliver", "github.com/spillbench/spillbench/engine.(*pipeline).consume", "runtime.goexit"},
		{"runtime.memmove", "github.com/spillbench/spillbench/spill.(*Buffer[...]).insert", "runtime.goexit"},
		{"aeshashbody", "hash/maphash.rthash", "github.com/spillbench/spillbench/engine.(*worker).process"},
		// What the runtime function our code called does decides, not
		// what it calls in turn: a system call's entry is the I/O's,
		// stack growth its caller's, the write barrier's flush is
		// marking.
		{"runtime.casgstatus", "runtime.reentersyscall", "runtime.entersyscall", "syscall.pwrite", "os.(*File).WriteAt"},
		{"runtime.memmove", "runtime.copystack", "runtime.newstack", "runtime.morestack", "github.com/spillbench/spillbench/spill.(*Buffer[...]).insert"},
		{"runtime.greyobject", "runtime.wbBufFlush1", "runtime.wbBufFlush", "runtime.gcWriteBarrier2", "github.com/spillbench/spillbench/engine.(*verifier).deliver"},
	}, []int64{40, 30, 20, 8, 2, 7, 11, 5, 3, 13, 17, 19, 23, 29, 31, 37, 41})
	a := Attribute("x", p)
	want := map[string]int64{"write syscalls": 40 + 31, "compression": 30, "strategy (checksum, delta)": 20 + 7 + 11 + 29, "GC": 8 + 3 + 41, "scheduling": 5 + 13 + 17, "other": 2,
		"pipeline (dispatch, gate, verify)": 19, "spill buffer": 23 + 37}
	for c, v := range want {
		if a.Categories[c] != v {
			t.Errorf("%s: %d, want %d (all: %v)", c, a.Categories[c], v, a.Categories)
		}
	}
	if a.Total != 336 || a.Samples != 17 || a.Flat["internal/runtime/syscall/linux.Syscall6"] != 40 || a.Cum["syscall.pwrite"] != 40+31 || a.Cum["github.com/spillbench/spillbench/spill.(*Buffer[...]).commit"] != 70 {
		t.Fatalf("total %d, flat %v, cum %v", a.Total, a.Flat, a.Cum)
	}
	if top := Top(a.Flat, 2); len(top) != 2 || top[0].Func != "runtime.memmove" || top[1].Value != 41 {
		t.Fatalf("Top = %v", top)
	}
}

func TestDiffSharesTheChange(t *testing.T) {
	a := Attribute("a", fakeProfile([][]string{{"f"}, {"g"}}, []int64{50, 50}))
	b := Attribute("b", fakeProfile([][]string{{"f"}, {"g"}, {"h"}}, []int64{80, 40, 30}))
	// Total 100 -> 150: f +30 explains 60%, h +30 60%, g -10 -20%.
	shifts := Diff(a, b, 1, 1)
	share := map[string]float64{}
	for _, s := range shifts {
		share[s.Func] = s.Share
	}
	for f, want := range map[string]float64{"f": 0.6, "h": 0.6, "g": -0.2} {
		if math.Abs(share[f]-want) > 1e-9 {
			t.Errorf("%s explains %.2f, want %.2f", f, share[f], want)
		}
	}
	// Per run: a profile of two runs holds twice one run's samples.
	for _, tc := range []struct {
		runsA, runsB int
		want         map[string]Shift
	}{
		// b per run: f 40, g 20, h 15 of 75, against a's 100: -25.
		{1, 2, map[string]Shift{"f": {Old: 50, New: 40, Share: 0.4}, "g": {Old: 50, New: 20, Share: 1.2}, "h": {Old: 0, New: 15, Share: -0.6}}},
		// a per run: f 25, g 25 of 50; b per run as above: +25.
		{2, 2, map[string]Shift{"f": {Old: 25, New: 40, Share: 0.6}, "g": {Old: 25, New: 20, Share: -0.2}, "h": {Old: 0, New: 15, Share: 0.6}}},
	} {
		got := Diff(a, b, tc.runsA, tc.runsB)
		if len(got) != 3 {
			t.Fatalf("runs %d, %d: %d shifts, want 3: %+v", tc.runsA, tc.runsB, len(got), got)
		}
		for _, s := range got {
			w := tc.want[s.Func]
			if s.Old != w.Old || s.New != w.New || math.Abs(s.Share-w.Share) > 1e-9 {
				t.Errorf("runs %d, %d: %s %d -> %d explains %.2f, want %d -> %d explaining %.2f", tc.runsA, tc.runsB, s.Func, s.Old, s.New, s.Share, w.Old, w.New, w.Share)
			}
		}
	}
}

func TestMergeProfilesOfACell(t *testing.T) {
	s := loadQuick(t)
	var cpus []string
	for _, p := range s.Dirs[0].Profiles {
		if len(p) > 0 && p[len(p)-len(".cpu.pb.gz"):] == ".cpu.pb.gz" {
			cpus = append(cpus, p)
		}
	}
	merged, err := MergeProfiles(cpus)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, path := range cpus {
		p, _ := ReadProfile(path)
		sum += Attribute("", p).Total
	}
	if got := Attribute("", merged).Total; got != sum {
		t.Fatalf("merged total %d, sum of parts %d", got, sum)
	}
}

func TestEveryCategoryHasItsOwnColour(t *testing.T) {
	if n := len(categoryNames()) + 1; len(categoryColors) < n { // and other
		t.Fatalf("%d colours for %d categories: the plot would repeat one", len(categoryColors), n)
	}
}
