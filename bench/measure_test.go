package bench

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/perf/benchfmt"

	"github.com/spillbench/spillbench/spill"
)

// measuredSpec is a sweep of two timed cells and a fault cell, with
// repetitions of 30 ms.
const measuredSpec = `
name: measured
count: 3
max-count: 5
benchtime: 30ms
warmup: 1
timeout: 20s
workload:
  - {name: mix, items: 600}
threshold: [1KiB]
granularity: [batch, item]
fault:
  - none
  - {injector: mock, mode: eio, nth: 2}
`

func runMeasured(t *testing.T, edit func(*Spec), opt Options) (string, []Outcome) {
	t.Helper()
	spec, err := ParseSpec("measured.yaml", []byte(measuredSpec))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(spec)
	}
	opt.Out = filepath.Join(t.TempDir(), "out")
	if _, err := Run(context.Background(), spec, opt); err != nil {
		t.Fatal(err)
	}
	return opt.Out, readOutcomes(t, opt.Out)
}

// values reads every value of unit in results.txt, by benchmark name.
func values(t *testing.T, dir, unit string) map[string][]float64 {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "results.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]float64{}
	r := benchfmt.NewReader(f, "results.txt")
	for r.Scan() {
		if res, ok := r.Result().(*benchfmt.Result); ok {
			if v, ok := res.Value(unit); ok {
				out[string(res.Name.Full())] = append(out[string(res.Name.Full())], v)
			}
		}
	}
	return out
}

// TestItersFor: the runs of a repetition are the benchtime over the
// calibrated time of one run, rounded, within [1, maxIters].
func TestItersFor(t *testing.T) {
	for _, c := range []struct {
		benchtime, perRun time.Duration
		want              int
	}{
		{30 * time.Millisecond, 5 * time.Millisecond, 6},
		{30 * time.Millisecond, 7 * time.Millisecond, 4},  // 4.29 rounds down
		{30 * time.Millisecond, 8 * time.Millisecond, 4},  // 3.75 rounds up
		{30 * time.Millisecond, 50 * time.Millisecond, 1}, // one slow run fills it
		{time.Second, time.Nanosecond, maxIters},
		{time.Second, 0, maxIters},
	} {
		if got := itersFor(c.benchtime, c.perRun); got != c.want {
			t.Errorf("itersFor(%v, %v) = %d, want %d", c.benchtime, c.perRun, got, c.want)
		}
	}
}

// TestRepetitionsFillTheBenchtime checks what the runner decides, not how
// fast this machine is: a timed cell's runs per repetition are chosen
// once, before the recorded repetitions, and kept; sec/op is per run.
// (How long a run takes depends on the machine's load and on -race; a
// loaded machine may need only one run to fill 30 ms.)
func TestRepetitionsFillTheBenchtime(t *testing.T) {
	dir, outcomes := runMeasured(t, nil, Options{})
	runs := map[string]int{}
	wall := map[string][]float64{}
	for _, o := range outcomes {
		timed := o.Kind == KindRing || o.Keys["fault"] == "none"
		switch {
		case timed && o.Status != StatusOK:
			t.Errorf("%s rep %d: %s: %s", o.Cell, o.Rep, o.Status, o.Reason)
		case !timed && o.Runs != 1:
			t.Errorf("%s: a fault cell ran %d times in a repetition", o.Cell, o.Runs)
		case timed && o.CPUMS <= 0:
			t.Errorf("%s: no CPU time recorded", o.Cell)
		case timed && o.Runs < 1:
			t.Errorf("%s rep %d: %d runs", o.Cell, o.Rep, o.Runs)
		case timed && runs[o.Cell] != 0 && runs[o.Cell] != o.Runs:
			t.Errorf("%s rep %d: %d runs after %d; the count is chosen once, before the recorded repetitions", o.Cell, o.Rep, o.Runs, runs[o.Cell])
		}
		if timed && o.Status == StatusOK {
			runs[o.Cell] = o.Runs
			wall[o.Cell] = append(wall[o.Cell], o.WallMS/1e3)
		}
	}
	// ns/op is per run (the outcome's wall time per run, not the
	// repetition's), and cpu-sec/op sits beside it.
	ns, cpu := values(t, dir, "sec/op"), values(t, dir, "cpu-sec/op")
	for name, vs := range ns {
		if !strings.HasPrefix(name, "Engine/") {
			continue
		}
		if len(cpu[name]) != len(vs) {
			t.Errorf("%s: sec/op %v, cpu-sec/op %v", name, vs, cpu[name])
		}
		for i, v := range vs {
			if w := wall[name]; i >= len(w) || math.Abs(v-w[i]) > 2e-6 { // the outcome keeps microseconds
				t.Errorf("%s: sec/op %v is not the outcomes' wall time per run %v", name, vs, w)
				break
			}
		}
	}
	env := readEnv(t, dir)
	if env.GOGC != 100 || env.Benchtime != "30ms" || env.ProfileHz != ProfileHz || env.Rounds < 3 {
		t.Errorf("env.json does not record how it measured: %+v", env)
	}
}

func TestAdaptiveRepetitionRunsUntilTheTarget(t *testing.T) {
	// An interval needs 6 runs; with count 6 and max-count 8, an
	// impossible target runs every timed cell 8 times, the fault cells 6.
	reps := func(ci float64) map[string]int {
		_, outcomes := runMeasured(t, func(s *Spec) { s.Count, s.MaxCount, s.CI, s.Benchtime = 6, 8, ci, 10*time.Millisecond }, Options{})
		n := map[string]int{}
		for _, o := range outcomes {
			n[o.Cell]++
		}
		return n
	}
	for cell, n := range reps(1e-9) {
		want := 8
		if strings.Contains(cell, "fault=mock") {
			want = 6
		}
		if n != want {
			t.Errorf("impossible target: %s ran %d repetitions, want %d", cell, n, want)
		}
	}
	// A target every finite interval meets (a loaded machine can spread
	// six runs over a factor of ten): count repetitions each.
	for cell, n := range reps(1e6) {
		if n != 6 {
			t.Errorf("target met at once: %s ran %d repetitions, want 6", cell, n)
		}
	}
}

func TestSeededRepetitionsRepeatTheirSpillWork(t *testing.T) {
	dir, _ := runMeasured(t, nil, Options{})
	for _, unit := range []string{"spill-bytes/op", "reloads/op", "activations/op"} {
		for name, vs := range values(t, dir, unit) {
			if !strings.HasPrefix(name, "Engine/") {
				continue
			}
			if slices.Min(vs) != slices.Max(vs) {
				t.Errorf("%s %s varies across repetitions: %v", name, unit, vs)
			}
			if unit == "spill-bytes/op" && vs[0] == 0 {
				t.Errorf("%s spilled nothing; the test needs spilling", name)
			}
		}
	}
}

func TestCellProfilesMergeEveryRepetition(t *testing.T) {
	dir, outcomes := runMeasured(t, nil, Options{})
	// measured is the time each cell's repetitions spent in their
	// measured regions, by profile file name; longest the longest of them.
	measured := map[string]time.Duration{}
	longest := map[string]time.Duration{}
	for _, o := range outcomes {
		if o.Rep < 0 || o.Runs == 0 {
			continue
		}
		name := strings.ReplaceAll(o.Cell, "/", "_") + ".cpu.pb.gz"
		d := time.Duration(o.WallMS * float64(o.Runs) * float64(time.Millisecond))
		measured[name] += d
		longest[name] = max(longest[name], d)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "profiles", "Engine_*fault=none.cpu.pb.gz"))
	if len(paths) != 2 {
		t.Fatalf("profiles %v, want one per fault-free cell", paths)
	}
	for _, p := range paths {
		prof := readProfile(t, p)
		if want := int64(time.Second / ProfileHz); prof.Period != want {
			t.Errorf("%s: a sample every %d ns, want %d (%d Hz)", p, prof.Period, want, ProfileHz)
		}
		// Merged profiles add their durations, and each repetition's
		// profile spans at least its measured region. The comparison is
		// with the time the repetitions really took, not with the
		// benchtime: a run calibrated on a busy machine can go faster later.
		name := filepath.Base(p)
		if measured[name] == 0 {
			t.Fatalf("%s: no measured repetition of its cell in the outcomes", p)
		}
		d := time.Duration(prof.DurationNanos)
		if d < measured[name]*9/10 || d <= longest[name] {
			t.Errorf("%s covers %v; its repetitions measured %v (the longest %v): they were not merged",
				p, d, measured[name], longest[name])
		}
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, "profiles", "*.tmp")); len(tmps) > 0 {
		t.Errorf("temporary profile files left: %v", tmps)
	}
}

func TestPlantSlowsTheCellsItNames(t *testing.T) {
	plant, err := ParsePlant("gran=item=100%")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := runMeasured(t, func(s *Spec) { s.Faults = s.Faults[:1] }, Options{Plant: plant})
	if env := readEnv(t, dir); env.Planted != "gran=item=100%" {
		t.Errorf("env.json planted %q", env.Planted)
	}
	ns := values(t, dir, "sec/op")
	var batch, item float64
	for name, vs := range ns {
		switch {
		case strings.Contains(name, "Engine/") && strings.Contains(name, "gran=batch"):
			batch = slices.Min(vs)
		case strings.Contains(name, "Engine/") && strings.Contains(name, "gran=item"):
			item = slices.Min(vs)
		}
	}
	// The planted cell takes twice its time; the batch and item cells
	// take about the same unplanted. The margin is wide so that a loaded
	// machine, which spreads the repetitions, cannot close it.
	if item < 1.25*batch {
		t.Errorf("planted cell %.3g s/op against %.3g s/op unplanted", item, batch)
	}
	for _, bad := range []string{"", "x", "gran=item", "gran=item=5", "gran=item=-5%", "(=5%"} {
		if _, err := ParsePlant(bad); err == nil {
			t.Errorf("ParsePlant(%q) accepted it", bad)
		}
	}
}

func TestParsePercent(t *testing.T) {
	for in, want := range map[string]float64{"5%": 0.05, "0.05": 0.05, " 2.5 % ": 0.025, "0%": 0, "100%": 1} {
		if got, err := ParsePercent(in); err != nil || math.Abs(got-want) > 1e-12 {
			t.Errorf("ParsePercent(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"5", "lots", "", "%", "NaN%", "1.5"} {
		if _, err := ParsePercent(bad); err == nil {
			t.Errorf("ParsePercent(%q) accepted it", bad)
		}
	}
}

func TestParseStealTicks(t *testing.T) {
	steal, total, ok := parseStealTicks("cpu  100 2 30 800 5 0 6 40 0 0\n")
	if !ok || steal != 40 || total != 983 {
		t.Fatalf("steal %d of %d (%t); want 40 of 983", steal, total, ok)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8", "cpu 1 2 x 4 5 6 7 8", "cpu 1 2 3"} {
		if _, _, ok := parseStealTicks(bad); ok {
			t.Errorf("parseStealTicks(%q) accepted it", bad)
		}
	}
	m0 := machine{steal: 10, total: 1000, stealKnown: true}
	m1 := machine{cpu: time.Second, steal: 30, total: 1200, stealKnown: true}
	if cpu, s := m1.since(m0); cpu != time.Second || math.Abs(s-0.1) > 1e-12 {
		t.Fatalf("since: %v %v; want 1s and 10%% stolen", cpu, s)
	}
}

// With probe: true every engine run checks its spill directory first: a
// mock fault at the probe's site fails the run there, as an I/O error
// at dir.probe, before any spill; without it the fault never fires.
func TestSpecProbeChecksTheSpillDirFirst(t *testing.T) {
	for _, probe := range []bool{true, false} {
		_, outcomes := runMeasured(t, func(s *Spec) {
			s.Probe = probe
			s.Faults = s.Faults[1:]
			s.Faults[0].Fault.Site, s.Faults[0].Fault.Nth = spill.SiteDirProbe, 1
		}, Options{})
		for _, o := range outcomes {
			if o.Kind != KindEngine || o.Keys["fault"] == "none" {
				continue
			}
			fired := o.Status == StatusError && strings.Contains(o.Error, string(spill.SiteDirProbe))
			if fired != probe {
				t.Errorf("probe %t: %s rep %d: %s %q", probe, o.Cell, o.Rep, o.Status, o.Error)
			}
		}
	}
	if _, err := ParseSpec("p.yaml", []byte("name: p\nprobe: maybe\nworkload:\n  - {name: mix}\n")); err == nil || !strings.Contains(err.Error(), "probe") {
		t.Errorf("probe: maybe accepted: %v", err)
	}
}

// The reorder window's diagnostics reach results.txt as units beside
// every engine cell's time: its high-water mark, the consumer's stall
// time and the forced inserts, per run.
func TestWindowDiagnosticsAreRecordedAsUnits(t *testing.T) {
	dir, _ := runMeasured(t, func(s *Spec) { s.Faults = s.Faults[:1] }, Options{})
	ns := values(t, dir, "sec/op")
	// benchfmt reads stall-ns/op as stall-sec/op, as it does ns/op.
	for _, unit := range []string{"peak-items", "stall-sec/op", "forced-inserts/op"} {
		got := values(t, dir, unit)
		for name, vs := range ns {
			if !strings.HasPrefix(name, "Engine/") {
				continue
			}
			if len(got[name]) != len(vs) {
				t.Errorf("%s: %d values of %s for %d repetitions", name, len(got[name]), unit, len(vs))
			}
			if unit == "peak-items" && slices.Min(got[name]) < 1 {
				t.Errorf("%s: peak-items %v; the window held items", name, got[name])
			}
		}
	}
}

// TestCalibrationRunIsTheWarmUp: a cell whose warm-up would be one run
// (an eighth of its calibrated runs, at most one) runs only its
// calibration run before it is measured; one whose warm-up is longer runs
// an eighth of its runs after it. So Options.Step sees either no warm-up
// run beyond the repetition's first or at least two, never exactly one;
// and the calibration's time is recorded as warm-up.
func TestCalibrationRunIsTheWarmUp(t *testing.T) {
	var mu sync.Mutex
	extra := map[string]int{} // warm-up runs after a repetition's first, by cell
	step := func(cell string, rep, run, _ int) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if rep < 0 {
			extra[cell] += min(run, 1)
		}
		return 0, nil
	}
	// 2 ms fills with a run or two of the engine's cells (mix at 600
	// items takes about 2 ms), so their warm-up is one run however fast
	// the machine; the Ring cell's may be longer.
	dir, _ := runMeasured(t, func(s *Spec) { s.Faults, s.Benchtime = s.Faults[:1], 2*time.Millisecond }, Options{Step: step})
	none := 0
	for cell, n := range extra {
		switch n {
		case 0:
			none++
		case 1:
			t.Errorf("%s: one warm-up run beyond the calibration run, which was the warm-up already", cell)
		}
	}
	if none == 0 {
		t.Errorf("every cell ran warm-up runs beyond its calibration run: %v", extra)
	}
	if env := readEnv(t, dir); env.OverheadSeconds.Warmup <= 0 {
		t.Errorf("warm-up time %v: the calibration runs were not recorded", env.OverheadSeconds.Warmup)
	}
}

// TestStealRetriesAreOverhead: with a steal bound no repetition can meet
// (below zero), every timed repetition is measured maxStealRetries times
// more; the discarded attempts are counted and their time is overhead.
func TestStealRetriesAreOverhead(t *testing.T) {
	dir, outcomes := runMeasured(t, func(s *Spec) {
		s.Faults = s.Faults[:1]
		s.Count, s.MaxCount, s.MaxSteal = 2, 2, -1
	}, Options{})
	timed := 0
	for _, o := range outcomes {
		if o.Rep >= 0 && o.Runs > 0 {
			timed++
		}
	}
	env := readEnv(t, dir)
	if timed == 0 || env.StealRepeats != maxStealRetries*timed {
		t.Errorf("%d repetitions run again for %d recorded, want %d each", env.StealRepeats, timed, maxStealRetries)
	}
	if o := env.OverheadSeconds; o.StealRetries <= 0 || o.StealRetries > env.TotalSeconds {
		t.Errorf("steal retries took %vs of a %vs sweep", o.StealRetries, env.TotalSeconds)
	}
}

// TestStepAgreesOnTheRuns: under Options.Step, a recorded repetition of a
// timed cell names the runs the sweep would make, and makes the count
// Step agreed instead; warm-ups and cells that are not timed name none.
func TestStepAgreesOnTheRuns(t *testing.T) {
	const agreed = 3
	var mu sync.Mutex
	named := map[string]int{} // the count each cell named, by cell
	step := func(cell string, rep, run, runs int) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if run > 0 || runs == 0 {
			if rep >= 0 && run == 0 && named[cell] > 0 {
				t.Errorf("%s rep %d named no count after naming %d", cell, rep, named[cell])
			}
			return 0, nil
		}
		if rep < 0 {
			t.Errorf("%s: warm-up %d named %d runs", cell, rep, runs)
		}
		named[cell] = runs
		return agreed, nil
	}
	_, outcomes := runMeasured(t, func(s *Spec) { s.Faults = s.Faults[:1] }, Options{Step: step})
	if len(named) == 0 {
		t.Fatal("no repetition named its count of runs")
	}
	for _, o := range outcomes {
		if _, ok := named[o.Cell]; ok && o.Rep >= 0 && o.Runs != agreed {
			t.Errorf("%s rep %d made %d runs, want the %d agreed", o.Cell, o.Rep, o.Runs, agreed)
		}
	}
}
