package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"

	"github.com/spillbench/spillbench/engine"
	"github.com/spillbench/spillbench/injectors"
	"github.com/spillbench/spillbench/internal/atomicfile"
	"github.com/spillbench/spillbench/spill"
)

// Options says how to run a sweep.
type Options struct {
	// Out is the result directory to create; it must not exist or be empty.
	Out string
	// Count, if positive, overrides the spec's repetitions (the least and
	// the most: adaptive repetition is off).
	Count int
	// Shard runs a deterministic part of the cells; the zero value runs all.
	Shard Shard
	// Profiles, if set, overrides the spec's profiles setting.
	Profiles string
	// Progress receives progress; nil is silent. Terminal draws a bar
	// instead of printing lines.
	Progress io.Writer
	Terminal bool
	// CPUs, if set, pins the process to these CPUs, where the host allows
	// (sched_setaffinity), and sets GOMAXPROCS to their number for the
	// sweep: the runtime's threads then share those CPUs instead of the
	// kernel time-slicing more Ps than there are CPUs. The pinning
	// outlasts the sweep; the process is meant to end with it.
	CPUs []int
	// Plant, for testing the measurement tools only, slows the matching
	// cells down by a known fraction. env.json records it.
	Plant *Plant
	// Step, if set, is called before every run of the engine, warm-ups
	// included. Interleave uses it to run two sweeps in lockstep, taking
	// turns run by run.
	Step StepFunc
	// Lockstep is the token of the interleaved run the sweep takes
	// turns in, recorded in env.json.
	Lockstep string
}

// Plant is a regression planted on purpose: after its last delivery the
// engine's consumer burns CPU for Fraction of the run so far
// (engine.Config.Slowdown), in every engine cell whose name Match
// matches, so the cell's time per run grows by that fraction. It exists to check that compare
// and the report see a change of a known size in the cell that has it and
// in no other.
type Plant struct {
	Match    *regexp.Regexp
	Fraction float64
}

// ParsePlant reads "REGEXP=FRACTION", such as
// "workload=mix/threshold=2KiB/gran=item=5%": everything after the last
// '=' is the fraction.
func ParsePlant(s string) (*Plant, error) {
	i := strings.LastIndex(s, "=")
	if i <= 0 {
		return nil, fmt.Errorf("plant %q: write CELL-REGEXP=FRACTION, such as gran=item/comp=none=5%%", s)
	}
	re, err := regexp.Compile(s[:i])
	if err != nil {
		return nil, fmt.Errorf("plant %q: %v", s, err)
	}
	f, err := ParsePercent(s[i+1:])
	if err != nil || f <= 0 || f > 10 {
		return nil, fmt.Errorf("plant %q: the fraction after the last = must be a percentage above 0, such as 5%%", s)
	}
	return &Plant{Match: re, Fraction: f}, nil
}

func (p *Plant) String() string {
	if p == nil {
		return ""
	}
	return fmt.Sprintf("%s=%g%%", p.Match, 100*p.Fraction)
}

// Summary is what a sweep did.
type Summary struct {
	Dir      string
	Env      Env
	Skipped  map[string]string // cell name -> why its injector is unavailable
	Failures []string          // "cell rep: status reason"
}

// A StepFunc is called with the cell's name, the repetition (negative for
// a warm-up) and the run within it: run 0 before the repetition starts
// (its setup included), 1 and on before each further run. The run waits
// for it to return; an error stops the sweep.
//
// At the start of a recorded repetition of a timed cell, runs is the count
// of runs the sweep would make (0 elsewhere, and before the count is
// known), and a positive count the StepFunc returns is made instead, so
// that sweeps taking turns make the same runs.
type StepFunc func(cell string, rep, run, runs int) (agreed int, err error)

// Run runs the spec's cells (this shard's) and writes the result directory.
//
// Every cell runs spec.Warmup unrecorded repetitions first, which also fix
// how many runs fill a repetition of spec.Benchtime. Then the recorded
// repetitions go round-robin across cells, so slow drifts of the machine
// spread over all of them: each cell gets at least spec.Count, and cells
// whose 95% interval of time per run is still wider than spec.CI get more,
// up to spec.MaxCount. A repetition during which the hypervisor stole
// more than spec.MaxSteal of the CPU is discarded and run again.
//
// If ctx is cancelled Run starts nothing new, tears the current run down,
// and leaves the directory valid and marked incomplete; the error is then
// ctx's.
func Run(ctx context.Context, spec *Spec, opt Options) (Summary, error) {
	if opt.Shard.N == 0 {
		opt.Shard = Shard{0, 1}
	}
	minCount, maxCount := spec.Count, spec.MaxCount
	if opt.Count > 0 {
		minCount, maxCount = opt.Count, opt.Count
	}
	profiles := spec.Profiles
	if opt.Profiles != "" {
		profiles = opt.Profiles
	}
	var cells []*cellState
	for _, c := range spec.Cells() {
		if opt.Shard.Has(c) {
			cells = append(cells, &cellState{c: c, timed: c.timed()})
		}
	}
	if len(opt.CPUs) > 0 {
		if err := pinCPUs(opt.CPUs); err != nil {
			return Summary{}, err
		}
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(len(opt.CPUs)))
	}
	d, err := createResultDir(opt.Out, spec)
	if err != nil {
		return Summary{}, err
	}
	defer debug.SetGCPercent(debug.SetGCPercent(spec.GOGC))
	env := collectEnv(spec, opt.Shard)
	env.Cells, env.PinnedCPUs = len(cells), opt.CPUs
	env.GOGC, env.Benchtime, env.CI = spec.GOGC, spec.Benchtime.String(), spec.CI
	env.MinCount, env.MaxCount, env.MaxSteal = minCount, maxCount, spec.MaxSteal
	env.ProfileHz, env.Planted, env.Lockstep = ProfileHz, opt.Plant.String(), opt.Lockstep
	sum := Summary{Dir: opt.Out, Skipped: map[string]string{}}
	if err := d.header(env); err != nil {
		d.abort()
		return Summary{}, fmt.Errorf("%s: could not start (it is removed again): %w", opt.Out, err)
	}
	if err := d.writeEnv(env); err != nil {
		d.abort()
		return Summary{}, fmt.Errorf("%s: could not start (it is removed again): %w", opt.Out, err)
	}
	r := &runner{spec: spec, dir: d, profiles: profiles, env: &env, sum: &sum, plant: opt.Plant, step: opt.Step,
		progress:  newProgress(opt.Progress, opt.Terminal, (spec.Warmup+minCount)*len(cells)),
		workloads: map[engine.WorkloadSpec]*engine.Prepared{}}

	var runErr error
	if spec.Target != nil {
		r.ext, runErr = prepareExternal(ctx, spec)
	}
	if runErr == nil {
		runErr = r.sweep(ctx, cells, minCount, maxCount)
	}
	runErr = errors.Join(runErr, r.ext.close())
	for _, st := range cells {
		if err := st.cpu.write(); err != nil && runErr == nil {
			runErr = err
		}
	}
	r.progress.finish()
	env.End = time.Now()
	env.TotalSeconds = env.End.Sub(env.Start).Seconds()
	if own := env.TotalSeconds - env.OverheadSeconds.TurnWait; own > 0 {
		env.Overhead = 1 - env.MeasuredSeconds/own
	}
	env.Complete = runErr == nil
	if err := d.writeEnv(env); err != nil {
		// The directory keeps the env.json of its start, which says
		// incomplete: so does the summary.
		env.Complete = false
		if runErr == nil {
			runErr = fmt.Errorf("%w; env.json keeps its previous version, so the directory reads as incomplete", err)
		}
	}
	if err := d.close(); err != nil && runErr == nil {
		runErr = err
	}
	sum.Env = env
	return sum, runErr
}

// sweep runs the warm-up and then the recorded rounds.
func (r *runner) sweep(ctx context.Context, cells []*cellState, minCount, maxCount int) error {
	for rep := -r.spec.Warmup; ; rep++ {
		ran := false
		for _, st := range cells {
			if rep >= 0 && r.enough(st, minCount, maxCount) {
				continue
			}
			if ctx.Err() != nil {
				r.env.Interrupted = true
				return ctx.Err()
			}
			if rep >= minCount {
				r.progress.more(1) // an adaptive repetition past the planned count
			}
			if r.step != nil {
				start := time.Now()
				runs := 0
				if rep >= 0 && st.timed {
					runs = st.iters
				}
				agreed, err := r.step(st.c.Name(), rep, 0, runs)
				r.turn = turns{step: r.step, cell: st.c.Name(), rep: rep, agreed: agreed}
				r.env.OverheadSeconds.TurnWait += time.Since(start).Seconds()
				if err == nil {
					err = ctx.Err() // cancelled while waiting for the turn
				}
				if err != nil {
					r.env.Interrupted = true
					return err
				}
			}
			if err := r.runCell(ctx, st, rep); err != nil {
				return err
			}
			ran = true
		}
		if rep >= 0 && !ran {
			return nil
		}
		if rep >= 0 {
			r.env.Rounds = rep + 1
		}
	}
}

// enough reports whether a cell has all the recorded repetitions it
// needs: minCount, and more while its interval of time per run is wider
// than the spec's target, up to maxCount.
func (r *runner) enough(st *cellState, minCount, maxCount int) bool {
	n := st.recorded
	switch {
	case n < minCount:
		return false
	case n >= maxCount || !st.timed || r.spec.CI == 0 || len(st.ns) < minCount:
		return true
	}
	return halfWidth(st.ns) <= r.spec.CI
}

// halfWidth is the relative half width of the 95% interval of the median
// of xs, as benchstat computes it.
func halfWidth(xs []float64) float64 {
	s := benchmath.AssumeNothing.Summary(benchmath.NewSample(xs, &benchmath.DefaultThresholds), 0.95)
	if s.Center == 0 || math.IsInf(s.Hi, 0) || math.IsInf(s.Lo, 0) {
		return math.Inf(1)
	}
	return (s.Hi - s.Lo) / 2 / math.Abs(s.Center)
}

type runner struct {
	spec      *Spec
	dir       *resultDir
	profiles  string
	env       *Env
	sum       *Summary
	progress  *progress
	plant     *Plant
	step      StepFunc
	turn      turns // the runs of the repetition under way
	workloads map[engine.WorkloadSpec]*engine.Prepared
	ext       *externalSweep // an external target's inputs; nil for the engine
}

// cellState is what the sweep keeps of a cell between its repetitions.
type cellState struct {
	c        Cell
	timed    bool      // measured for speed: repeated to fill benchtime, adaptive
	iters    int       // runs per repetition, fixed by the warm-up; 0 before
	ns       []float64 // time per run of each recorded repetition, ns
	recorded int
	// allocPerRep is the most a recorded repetition allocated: what the
	// next one may need before the collector's goal.
	allocPerRep uint64
	cpu         profileMerger
}

// timed reports whether a cell is measured for speed: an engine cell with
// no fault, or with a quiet one, or a ring cell. A cell with a fault meant
// to fire measures what the failure does: one run per repetition.
func (c Cell) timed() bool {
	return c.Kind == KindRing || c.Kind == KindEngine && (c.Fault.Injector == "none" || c.Fault.Quiet)
}

// prepared returns the cell's workload, generated once per sweep.
func (r *runner) prepared(w engine.WorkloadSpec) (*engine.Prepared, error) {
	if p := r.workloads[w]; p != nil {
		return p, nil
	}
	wl, err := engine.NewWorkload(w)
	if err != nil {
		return nil, err
	}
	p := engine.Prepare(wl)
	r.workloads[w] = p
	return p, nil
}

// runCell runs one repetition of a cell (rep < 0 is a warm-up) and records
// it. Only a failure to write results is returned.
func (r *runner) runCell(ctx context.Context, st *cellState, rep int) error {
	c := st.c
	if c.Kind == KindExternal {
		return r.runExternalCell(ctx, st, rep)
	}
	defer r.progress.step(c.Name())
	o := Outcome{Cell: c.Name(), Kind: c.Kind, Keys: map[string]string{}, Rep: rep}
	for _, kv := range c.Keys() {
		o.Keys[kv[0]] = kv[1]
	}
	var inj injectors.Injector
	if c.Fault.Injector != "none" && c.Kind == KindEngine {
		inj, _ = injectors.ByName(c.Fault.Injector)
		if err := injectors.ProbeMode(inj, c.Fault.Fault.Mode); err != nil {
			if rep < 0 {
				return nil
			}
			st.recorded++
			o.Status, o.Reason = StatusSkipped, err.Error()
			r.sum.Skipped[c.Name()] = err.Error()
			r.env.Skipped++
			return r.dir.outcome(o)
		}
	}
	m, err := r.measure(ctx, st, inj, rep)
	if m.turnErr != nil {
		r.env.Interrupted = true
		return m.turnErr
	}
	if m.profileErr != nil {
		return m.profileErr
	}
	if rep < 0 {
		r.env.OverheadSeconds.Warmup += m.wall.Seconds()
		if err == nil && st.timed && m.runs > 0 && r.spec.Benchtime > 0 {
			st.iters = itersFor(r.spec.Benchtime, m.wall/time.Duration(m.runs))
		}
		return nil // warm-up: not recorded
	}
	return r.record(ctx, st, o, m, err)
}

// measure runs one repetition of st's cell: as many runs as fill the
// benchtime (an eighth of them for a warm-up), again where the hypervisor
// stole more than the spec allows. It adds the time around the runs to
// the sweep's overhead.
func (r *runner) measure(ctx context.Context, st *cellState, inj injectors.Injector, rep int) (repetition, error) {
	if st.timed && st.iters == 0 {
		cal, err := r.calibrate(ctx, st, inj)
		r.overhead(cal)
		if rep < 0 && (cal.runs > 0 || err != nil) && st.iters/8 <= 1 {
			// The calibration run is the warm-up: a warm-up of one run
			// would do it again, and add nothing but time.
			return cal, err
		}
		r.env.OverheadSeconds.Warmup += cal.wall.Seconds()
	}
	iters := max(st.iters, 1)
	switch {
	case !st.timed:
		iters = 1
	case rep < 0:
		// A warm-up repetition warms the caches and refines the count;
		// an eighth of the runs does both.
		iters = max(1, iters/8)
	case r.turn.agreed > 0:
		iters = r.turn.agreed
	}
	var m repetition
	var err error
	for try := 0; ; try++ {
		m, err = r.execute(ctx, st.c, inj, iters, rep, st)
		// A warm-up's time is thrown away: what it met does not matter.
		if err != nil || ctx.Err() != nil || rep < 0 || m.steal <= r.spec.MaxSteal || try == maxStealRetries {
			break
		}
		r.env.StealRepeats++ // the hypervisor took the CPU: this one measured the neighbours
		r.env.OverheadSeconds.StealRetries += m.wall.Seconds()
		r.overhead(m)
	}
	r.overhead(m)
	return m, err
}

// overhead adds the time around a repetition's runs to the sweep's
// overhead.
func (r *runner) overhead(m repetition) {
	r.env.OverheadSeconds.SetupTeardown += (m.setup + m.teardown).Seconds()
	r.env.OverheadSeconds.GC += m.gc.Seconds()
	r.env.OverheadSeconds.Profiles += m.profiling.Seconds()
	r.env.OverheadSeconds.BetweenRuns += m.between.Seconds()
}

// record writes the outcome of a measured repetition, and for one that
// passed its results and the raw filesystem limit beside it.
func (r *runner) record(ctx context.Context, st *cellState, o Outcome, m repetition, err error) error {
	c := st.c
	o.SetupMS, o.TeardownMS = ms(m.setup), ms(m.teardown)
	out := m.last
	switch {
	case err != nil:
		o.Status, o.Reason = StatusSetupFailed, err.Error()
	case ctx.Err() != nil:
		o.fill(out, m.fault)
		o.Status, o.Reason = StatusInterrupted, "the sweep was interrupted during this run"
	case errors.Is(out.Err, context.DeadlineExceeded):
		o.fill(out, m.fault)
		o.Status, o.Reason = StatusTimeout, fmt.Sprintf("the run passed the spec's %v timeout", r.spec.Timeout)
	default:
		o.fill(out, m.fault)
	}
	o.Runs, o.CPUMS, o.StealPct, o.GCCycles = m.runs, ms(m.cpu), 100*m.steal, m.gcCycles
	if m.runs > 0 {
		o.WallMS = ms(m.wall) / float64(m.runs)
	}
	if !o.Passed() {
		r.failed(c, o)
	}
	r.env.Recorded++
	st.recorded++
	// Every recorded run is a measurement: of time, or of what a fault
	// did to it.
	r.env.MeasuredSeconds += m.wall.Seconds()
	if err := r.dir.outcome(o); err != nil {
		return err
	}
	if o.Status != StatusOK {
		return nil
	}
	st.ns = append(st.ns, float64(m.wall.Nanoseconds())/float64(m.runs))
	st.allocPerRep = max(st.allocPerRep, m.allocBytes)
	if err := r.dir.result(c.Name(), m.values()); err != nil {
		return err
	}
	if c.Kind == KindEngine && c.Backend == BackendDir && c.Fault.Injector == "none" && out.Spill.BytesWritten > 0 {
		start := time.Now()
		defer func() { r.env.OverheadSeconds.Limits += time.Since(start).Seconds() }()
		return r.rawFS(c, out.Spill)
	}
	return nil
}

// turns hands out the runs of the repetition under way when the sweep
// takes turns with another (Options.Step): the repetition's first run
// goes with the turn the sweep took for the repetition, and every
// further run, a steal retry's included, waits for a turn of its own.
// Taking turns run by run, rather than repetition by repetition, puts
// the two sides' runs of a repetition in the same moments: a slower
// period of the host, which lasts seconds on a shared VM, falls on both
// sides' runs instead of on one side's repetition.
type turns struct {
	step   StepFunc // nil: not interleaved
	cell   string
	rep    int
	agreed int           // runs the sides agreed for the repetition; 0: the sweep's own count
	runs   int           // runs of the repetition so far
	waited time.Duration // time spent waiting for turns
}

// next waits for the turn of the repetition's next run.
func (t *turns) next() error {
	if t.step == nil {
		return nil
	}
	t.runs++
	if t.runs == 1 {
		return nil
	}
	start := time.Now()
	_, err := t.step(t.cell, t.rep, t.runs-1, 0)
	t.waited += time.Since(start)
	return err
}

// maxStealRetries bounds how often one repetition is run again for steal:
// on a host that is always overcommitted, the sweep still ends.
const maxStealRetries = 3

// maxIters bounds the runs of one repetition.
const maxIters = 10000

// itersFor is how many runs of perRun fill benchtime, at least one.
func itersFor(benchtime, perRun time.Duration) int {
	if perRun <= 0 {
		return maxIters
	}
	return int(min(max(math.Round(float64(benchtime)/float64(perRun)), 1), maxIters))
}

// calibrate times one run of a timed cell and sets its first estimate of
// the runs that fill a repetition; a warm-up of more than one run refines
// it. Without a benchtime it runs nothing.
func (r *runner) calibrate(ctx context.Context, st *cellState, inj injectors.Injector) (repetition, error) {
	st.iters = 1
	if r.spec.Benchtime <= 0 {
		return repetition{}, nil
	}
	m, err := r.execute(ctx, st.c, inj, 1, -1, st)
	if err == nil && m.runs > 0 {
		st.iters = itersFor(r.spec.Benchtime, m.wall)
	}
	return m, err
}

// repetition is what the runs of one repetition measured.
type repetition struct {
	runs            int           // runs that completed
	wall            time.Duration // their measured time, summed
	cpu             time.Duration // process CPU time across them, setup between runs included
	steal           float64       // share of host CPU stolen meanwhile
	setup, teardown time.Duration
	gc, profiling   time.Duration // collecting before, and writing profiles after
	// profileErr is a failure to write the repetition's profiles: the
	// result directory's failure, not the run's, so it stops the sweep.
	profileErr error
	// turnErr is a failure to get the turn for a run under Options.Step
	// (the driver of an interleaved run went away): it stops the sweep.
	turnErr  error
	between  time.Duration // the engine's setup and teardown between its runs
	gcCycles uint64        // collections during the runs
	fault    *FaultOutcome

	last                   engine.Outcome // the last run, whose status the repetition takes
	allocs, allocBytes     uint64
	delivered              int64
	spill                  spill.Stats // summed over the runs
	peakHeap               uint64
	peakRSS, peakBuf, lost int64
	// The reorder window's diagnostics.
	peakItems int
	stalled   time.Duration
	forced    int64
}

// add accounts one run.
func (m *repetition) add(out engine.Outcome) {
	m.runs++
	m.last = out
	m.wall += out.Wall
	m.allocs += out.Allocs
	m.allocBytes += out.AllocBytes
	m.delivered += out.Report.Delivered
	m.lost += out.Report.Lost
	s := out.Spill
	m.spill.BytesWritten += s.BytesWritten
	m.spill.BytesRead += s.BytesRead
	m.spill.ReloadEvents += s.ReloadEvents
	m.spill.Activations += s.Activations
	m.spill.SpillEvents += s.SpillEvents
	m.spill.SpillTime += s.SpillTime
	m.spill.ReloadTime += s.ReloadTime
	m.peakHeap = max(m.peakHeap, out.PeakHeap)
	m.peakRSS = max(m.peakRSS, out.PeakRSS)
	m.peakBuf = max(m.peakBuf, out.PeakBuffered)
	m.peakItems = max(m.peakItems, out.PeakItems)
	m.stalled += out.Stalled
	m.forced += out.ForcedInserts
}

// values are the repetition's measurements in benchmark units, per run.
func (m *repetition) values() []benchfmt.Value {
	n := float64(m.runs)
	s := m.spill
	return []benchfmt.Value{
		{Value: float64(m.wall.Nanoseconds()) / n, Unit: "ns/op"},
		{Value: float64(m.cpu.Nanoseconds()) / n, Unit: "cpu-ns/op"},
		{Value: float64(m.allocBytes) / n, Unit: "B/op"},
		{Value: float64(m.allocs) / n, Unit: "allocs/op"},
		{Value: float64(m.delivered) / m.wall.Seconds(), Unit: "items/s"},
		{Value: float64(s.BytesWritten) / n, Unit: "spill-bytes/op"},
		{Value: float64(s.BytesRead) / n, Unit: "reload-bytes/op"},
		{Value: float64(s.ReloadEvents) / n, Unit: "reloads/op"},
		{Value: float64(s.Activations) / n, Unit: "activations/op"},
		{Value: float64(s.SpillTime.Nanoseconds()) / n, Unit: "spill-ns/op"},
		{Value: float64(s.ReloadTime.Nanoseconds()) / n, Unit: "reload-ns/op"},
		{Value: float64(m.peakHeap), Unit: "peak-heap-B"},
		{Value: float64(m.peakRSS), Unit: "peak-rss-B"},
		{Value: float64(m.peakBuf), Unit: "peak-buffered-B"},
		{Value: float64(m.peakItems), Unit: "peak-items"},
		{Value: float64(m.stalled.Nanoseconds()) / n, Unit: "stall-ns/op"},
		{Value: float64(m.forced) / n, Unit: "forced-inserts/op"},
		{Value: float64(m.lost) / n, Unit: "lost-items/op"},
	}
}

// failed counts a failed repetition of c in the summary, env.json and
// the progress line.
func (r *runner) failed(c Cell, o Outcome) {
	r.env.Failed++
	r.sum.Failures = append(r.sum.Failures, fmt.Sprintf("%s rep %d: %s %s", c.Name(), o.Rep, o.Status, o.Reason))
	r.progress.failed()
}

// execute sets the cell's injector (or spill directory) up, runs the
// engine iters times, and tears down. The measured region is the runs of
// engine.Run; the heap is collected before them.
func (r *runner) execute(ctx context.Context, c Cell, inj injectors.Injector, iters, rep int, st *cellState) (m repetition, err error) {
	wl, err := r.prepared(c.Workload)
	if err != nil {
		return m, err
	}
	cfg := engine.Config{Workload: wl, Workers: c.Workers, RingCapacity: c.Ring, Schedule: c.Schedule, Seed: r.spec.Seed, Probe: r.spec.Probe}
	if r.plant != nil && c.Kind == KindEngine && r.plant.Match.MatchString(c.Name()) {
		cfg.Slowdown = r.plant.Fraction
	}
	start := time.Now()
	var release func() error
	if c.Kind == KindEngine {
		policy := c.Policy("")
		switch {
		case inj != nil:
			release = inj.Teardown
			s, serr := inj.Setup(ctx)
			if serr == nil {
				serr = inj.Arm(c.Fault.Fault)
			}
			if serr != nil {
				return m, errors.Join(serr, release())
			}
			p := s.Apply(*policy)
			policy = &p
		case c.Backend == BackendDir:
			dir, h, derr := injectors.NewTempDirIn(r.spec.SpillDir, "spill")
			if derr != nil {
				return m, derr
			}
			release = h.Release
			policy.Dir = dir + "/spill"
		}
		cfg.Spill = policy
	}
	m.setup = time.Since(start)

	if st.allocPerRep == 0 || gcDue(2*st.allocPerRep) {
		// The repetition could meet a collection on its way: collect
		// now, outside the measurement, so that none runs inside it.
		gcStart := time.Now()
		runtime.GC()
		m.gc = time.Since(gcStart)
	}
	stopProfile := r.startProfile(c, rep, st)
	m0, gc0 := readMachine(), gcCycles()
	loopStart, waited0 := time.Now(), r.turn.waited
	for range iters {
		if m.turnErr = r.turn.next(); m.turnErr != nil {
			break
		}
		runCtx, cancel := context.WithTimeout(ctx, r.spec.Timeout)
		unbind := injectors.BindRun(runCtx, inj) // a timeout or interrupt cuts a fault's delays
		out, rerr := engine.Run(runCtx, cfg)
		unbind()
		cancel()
		if rerr != nil {
			err = rerr
			break
		}
		m.add(out)
		if out.Err != nil || !out.Report.Clean() || out.Panics > 0 || ctx.Err() != nil {
			break // the repetition takes this run's status
		}
	}
	waited := r.turn.waited - waited0
	m.between = time.Since(loopStart) - m.wall - waited
	r.env.OverheadSeconds.TurnWait += waited.Seconds()
	m.cpu, m.steal = readMachine().since(m0)
	m.gcCycles = gcCycles() - gc0
	profStart := time.Now()
	perr := stopProfile()
	m.profiling = time.Since(profStart)

	start = time.Now()
	if inj != nil {
		f := &FaultOutcome{Injector: inj.Name(), Mode: string(c.Fault.Fault.Mode), Quiet: c.Fault.Quiet, TargetSite: c.Fault.Fault.Site,
			Family: string(inj.Family())}
		for _, r := range inj.Requires() {
			f.Requires = append(f.Requires, string(r))
		}
		obs := inj.Observations()
		f.Summary = injectors.Summarize(obs)
		f.Observations = obs[:min(len(obs), 8)]
		m.fault = f
	}
	var terr error
	if release != nil {
		terr = release()
	}
	m.teardown = time.Since(start)
	m.profileErr = perr
	return m, errors.Join(err, terr)
}

// startProfile starts the CPU profile of a recorded repetition and returns
// the function that stops it. With profiles: cell the repetitions of a
// timed cell are merged into one profile per cell (a cell with a fault
// profiles its first repetition); with rep each has its own file. The
// heap profile is the state after the cell's first recorded repetition.
func (r *runner) startProfile(c Cell, rep int, st *cellState) func() error {
	perRep := r.profiles == "rep"
	if rep < 0 || r.profiles == "none" || (!perRep && !st.timed && rep != 0) {
		return func() error { return nil }
	}
	var buf bytes.Buffer
	if err := startCPUProfile(&buf); err != nil {
		return func() error { return fmt.Errorf("cpu profile: %w", err) }
	}
	return func() error {
		pprof.StopCPUProfile()
		var err error
		if perRep {
			err = atomicfile.WriteFile(r.dir.profilePath(c, rep, true, "cpu"), buf.Bytes(), 0o644)
		} else {
			err = st.cpu.add(r.dir.profilePath(c, rep, false, "cpu"), buf.Bytes())
		}
		if rep != 0 && !perRep {
			return err
		}
		runtime.GC() // the heap profile reports the state as of the last GC
		herr := atomicfile.Write(r.dir.profilePath(c, rep, perRep, "heap"), 0o644, func(f *os.File) error {
			return pprof.Lookup("heap").WriteTo(f, 0)
		})
		return errors.Join(err, herr)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// rawFS measures the spill path's physical limit beside an engine cell:
// it writes as many bytes as one run spilled, sequentially in 1 MiB
// writes, into a fresh file in a spill directory of the same kind, and
// reads back as many as it reloaded, and records the result as
// RawFS/<the cell's keys>.
func (r *runner) rawFS(c Cell, s spill.Stats) error {
	dir, h, err := injectors.NewTempDirIn(r.spec.SpillDir, "rawfs")
	if err != nil {
		return err
	}
	defer h.Release()
	f, err := os.CreateTemp(dir, "raw")
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 31)
	}
	start := time.Now()
	for left := s.BytesWritten; left > 0; {
		n, err := f.Write(buf[:min(int64(len(buf)), left)])
		if err != nil {
			return err
		}
		left -= int64(n)
	}
	for left, off := s.BytesRead, int64(0); left > 0; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), left)], off%max(s.BytesWritten, 1))
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if n == 0 {
			break
		}
		left, off = left-int64(n), off+int64(n)
	}
	wall := time.Since(start)
	rc := c
	rc.Kind = KindRawFS
	total := float64(s.BytesWritten + s.BytesRead)
	return r.dir.result(rc.Name(), []benchfmt.Value{
		{Value: float64(wall.Nanoseconds()), Unit: "ns/op"},
		{Value: total / wall.Seconds(), Unit: "bytes/s"},
	})
}
