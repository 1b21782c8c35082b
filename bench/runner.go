package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"golang.org/x/perf/benchfmt"

	"github.com/spillbench/spillbench/engine"
	"github.com/spillbench/spillbench/injectors"
	"github.com/spillbench/spillbench/spill"
)

// Options says how to run a sweep.
type Options struct {
	// Out is the result directory to create; it must not exist or be empty.
	Out string
	// Count, if positive, overrides the spec's repetitions.
	Count int
	// Shard runs a deterministic part of the cells; the zero value runs all.
	Shard Shard
	// Profiles, if set, overrides the spec's profiles setting.
	Profiles string
	// Progress receives progress; nil is silent. Terminal draws a bar
	// instead of printing lines.
	Progress io.Writer
	Terminal bool
	// CPUs, if set, pins the process to these CPUs for the sweep, where
	// the host allows (sched_setaffinity).
	CPUs []int
}

// Summary is what a sweep did.
type Summary struct {
	Dir      string
	Env      Env
	Skipped  map[string]string // cell name -> why its injector is unavailable
	Failures []string          // "cell rep: status reason"
}

// Run runs the spec's cells (this shard's), repetitions round-robin across
// cells after the warm-up runs, and writes the result directory. If ctx is
// cancelled it starts nothing new, tears the current run down, and leaves
// the directory valid and marked incomplete; the error is then ctx's.
func Run(ctx context.Context, spec *Spec, opt Options) (Summary, error) {
	if opt.Shard.N == 0 {
		opt.Shard = Shard{0, 1}
	}
	count := spec.Count
	if opt.Count > 0 {
		count = opt.Count
	}
	profiles := spec.Profiles
	if opt.Profiles != "" {
		profiles = opt.Profiles
	}
	var cells []Cell
	for _, c := range spec.Cells() {
		if opt.Shard.Has(c) {
			cells = append(cells, c)
		}
	}
	if len(opt.CPUs) > 0 {
		if err := pinCPUs(opt.CPUs); err != nil {
			return Summary{}, err
		}
	}
	d, err := createResultDir(opt.Out, spec)
	if err != nil {
		return Summary{}, err
	}
	env := collectEnv(spec, opt.Shard)
	env.Cells, env.PinnedCPUs = len(cells), opt.CPUs
	sum := Summary{Dir: opt.Out, Skipped: map[string]string{}}
	if err := errors.Join(d.header(env), d.writeEnv(env)); err != nil {
		d.close()
		return sum, err
	}
	r := &runner{spec: spec, dir: d, profiles: profiles, env: &env, sum: &sum,
		progress: newProgress(opt.Progress, opt.Terminal, (spec.Warmup+count)*len(cells))}

	var runErr error
loop:
	for rep := -spec.Warmup; rep < count; rep++ {
		for _, c := range cells {
			if ctx.Err() != nil {
				env.Interrupted = true
				runErr = ctx.Err()
				break loop
			}
			if err := r.runCell(ctx, c, rep); err != nil {
				runErr = err
				break loop
			}
		}
	}
	r.progress.finish()
	env.End = time.Now()
	env.TotalSeconds = env.End.Sub(env.Start).Seconds()
	if env.TotalSeconds > 0 {
		env.Overhead = 1 - env.MeasuredSeconds/env.TotalSeconds
	}
	env.Complete = runErr == nil
	sum.Env = env
	if err := errors.Join(d.writeEnv(env), d.close()); err != nil && runErr == nil {
		runErr = err
	}
	return sum, runErr
}

type runner struct {
	spec     *Spec
	dir      *resultDir
	profiles string
	env      *Env
	sum      *Summary
	progress *progress
}

// runCell runs one repetition of a cell (rep < 0 is a warm-up) and records
// it. Only a failure to write results is returned.
func (r *runner) runCell(ctx context.Context, c Cell, rep int) error {
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
			o.Status, o.Reason = StatusSkipped, err.Error()
			r.sum.Skipped[c.Name()] = err.Error()
			r.env.Skipped++
			return r.dir.outcome(o)
		}
	}
	out, fault, setup, teardown, err := r.execute(ctx, c, inj, rep)
	o.SetupMS, o.TeardownMS = ms(setup), ms(teardown)
	if rep < 0 {
		return nil // warm-up: not recorded
	}
	switch {
	case err != nil:
		o.Status, o.Reason = StatusSetupFailed, err.Error()
	case ctx.Err() != nil:
		o.fill(out, fault)
		o.Status, o.Reason = StatusInterrupted, "the sweep was interrupted during this run"
	case errors.Is(out.Err, context.DeadlineExceeded):
		o.fill(out, fault)
		o.Status, o.Reason = StatusTimeout, fmt.Sprintf("the run passed the spec's %v timeout", r.spec.Timeout)
	default:
		o.fill(out, fault)
	}
	if !o.Status.Passed() {
		r.env.Failed++
		r.sum.Failures = append(r.sum.Failures, fmt.Sprintf("%s rep %d: %s %s", c.Name(), rep, o.Status, o.Reason))
		r.progress.failed()
	}
	r.env.Recorded++
	if err := r.dir.outcome(o); err != nil {
		return err
	}
	if o.Status == StatusOK {
		r.env.MeasuredSeconds += out.Wall.Seconds()
		if err := r.dir.result(c.Name(), engineValues(out)); err != nil {
			return err
		}
		if c.Kind == KindEngine && c.Backend == BackendDir && c.Fault.Injector == "none" && out.Spill.BytesWritten > 0 {
			return r.rawFS(c, out.Spill)
		}
	}
	return nil
}

// execute sets the cell's injector (or spill directory) up, runs the
// engine, and tears down. The measured region is engine.Run alone.
func (r *runner) execute(ctx context.Context, c Cell, inj injectors.Injector, rep int) (out engine.Outcome, fault *FaultOutcome, setup, teardown time.Duration, err error) {
	wl, err := engine.NewWorkload(c.Workload)
	if err != nil {
		return out, nil, 0, 0, err
	}
	cfg := engine.Config{Workload: wl, Workers: c.Workers, RingCapacity: c.Ring}
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
				return out, nil, time.Since(start), 0, errors.Join(serr, release())
			}
			p := s.Apply(*policy)
			policy = &p
		case c.Backend == BackendDir:
			dir, derr := os.MkdirTemp("", "spillbench-spill-")
			if derr != nil {
				return out, nil, 0, 0, derr
			}
			h := injectors.Resources.Add("dir", dir, func() error { return os.RemoveAll(dir) })
			release = h.Release
			policy.Dir = dir + "/spill"
		}
		cfg.Spill = policy
	}
	setup = time.Since(start)

	runCtx, cancel := context.WithTimeout(ctx, r.spec.Timeout)
	defer cancel()
	stopProfile := r.startProfile(c, rep)
	out, err = engine.Run(runCtx, cfg)
	perr := stopProfile()

	start = time.Now()
	if inj != nil {
		fault = &FaultOutcome{Injector: inj.Name(), Mode: string(c.Fault.Fault.Mode), Quiet: c.Fault.Quiet, TargetSite: c.Fault.Fault.Site,
			Family: string(inj.Family())}
		for _, r := range inj.Requires() {
			fault.Requires = append(fault.Requires, string(r))
		}
		obs := inj.Observations()
		fault.Summary = injectors.Summarize(obs)
		fault.Observations = obs[:min(len(obs), 8)]
	}
	var terr error
	if release != nil {
		terr = release()
	}
	teardown = time.Since(start)
	return out, fault, setup, teardown, errors.Join(err, perr, terr)
}

// startProfile starts a CPU profile for the cell's first recorded
// repetition (or every one, with profiles: rep) and returns the function
// that stops it and writes the heap profile beside it.
func (r *runner) startProfile(c Cell, rep int) func() error {
	perRep := r.profiles == "rep"
	if rep < 0 || r.profiles == "none" || (!perRep && rep != 0) {
		return func() error { return nil }
	}
	cpu, err := os.Create(r.dir.profilePath(c, rep, perRep, "cpu"))
	if err != nil {
		return func() error { return err }
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		cpu.Close()
		return func() error { return fmt.Errorf("cpu profile: %w", err) }
	}
	return func() error {
		pprof.StopCPUProfile()
		err := cpu.Close()
		heap, herr := os.Create(r.dir.profilePath(c, rep, perRep, "heap"))
		if herr != nil {
			return errors.Join(err, herr)
		}
		runtime.GC() // the heap profile reports the state as of the last GC
		return errors.Join(err, pprof.Lookup("heap").WriteTo(heap, 0), heap.Close())
	}
}

// engineValues are the measurements of one run in benchmark units.
func engineValues(out engine.Outcome) []benchfmt.Value {
	s := out.Spill
	return []benchfmt.Value{
		{Value: float64(out.Wall.Nanoseconds()), Unit: "ns/op"},
		{Value: float64(out.AllocBytes), Unit: "B/op"},
		{Value: float64(out.Allocs), Unit: "allocs/op"},
		{Value: out.ItemsPerSec(), Unit: "items/s"},
		{Value: float64(s.BytesWritten), Unit: "spill-bytes/op"},
		{Value: float64(s.ReloadEvents), Unit: "reloads/op"},
		{Value: float64(s.Activations), Unit: "activations/op"},
		{Value: float64(out.PeakHeap), Unit: "peak-heap-B"},
		{Value: float64(out.PeakRSS), Unit: "peak-rss-B"},
		{Value: float64(out.PeakBuffered), Unit: "peak-buffered-B"},
		{Value: float64(out.Report.Lost), Unit: "lost-items/op"},
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// rawFS measures the spill path's physical limit beside an engine cell:
// it writes as many bytes as the engine spilled, sequentially, into a
// fresh file in a spill directory of the same kind, and reads back as many
// as it reloaded, and records the result as RawFS/<the cell's keys>.
func (r *runner) rawFS(c Cell, s spill.Stats) error {
	dir, err := os.MkdirTemp("", "spillbench-rawfs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
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
