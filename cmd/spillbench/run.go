package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spillbench/spillbench/bench"
	"github.com/spillbench/spillbench/injectors"
)

func runCmd(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "run", `  spillbench run                          the quick sweep into ./out/quick-<time>
  spillbench run --spec default --count 10
  spillbench run --spec my.yaml --shard 0/4 --out out/shard0
`)
	specName := fs.String("spec", "quick", "sweep spec: quick, ci, default, tuning, full, sort (GNU sort as an external target), or a YAML file")
	out := fs.String("out", "", "result directory to create (default ./out/<spec>-<time>)")
	count := fs.Int("count", 0, "repetitions per cell, overriding the spec's")
	shardFlag := fs.String("shard", "0/1", "run part i of n of the cells, as i/n")
	profiles := fs.String("profiles", "", "pprof profiles: cell, rep or none (default: the spec's)")
	quiet := fs.Bool("q", false, "no progress output")
	cpuList := fs.String("cpus", "", "pin the sweep to these CPUs, such as 0-1 (where allowed)")
	plantFlag := fs.String("plant", "", "testing the tools only: slow the engine cells matching REGEXP by a share of their run, as REGEXP=5%; env.json records it")
	lockstep := fs.String("lockstep", "", "internal: take turns, under this token, with another sweep of spillbench ab or calibrate")
	if err := fs.parse(args); err != nil {
		return err
	}
	var step bench.StepFunc
	if *lockstep != "" {
		turns, ready, err := bench.LockstepFiles()
		if err != nil {
			return usagef("run: %v", err)
		}
		defer turns.Close()
		defer ready.Close()
		step = bench.LockstepStep(turns, ready)
	}
	var plant *bench.Plant
	if *plantFlag != "" {
		p, err := bench.ParsePlant(*plantFlag)
		if err != nil {
			return usagef("run: --plant: %v", err)
		}
		plant = p
	}
	if *count < 0 {
		return usagef("run: --count %d; give a positive number of repetitions", *count)
	}
	if *profiles != "" && *profiles != "cell" && *profiles != "rep" && *profiles != "none" {
		return usagef("run: --profiles %q; use cell, rep or none", *profiles)
	}
	shard, err := bench.ParseShard(*shardFlag)
	if err != nil {
		return usagef("run: %v", err)
	}
	cpus, err := parseCPUs(*cpuList)
	if err != nil {
		return err
	}
	spec, err := bench.LoadSpec(*specName)
	if err != nil {
		return usagef("run: %v", err)
	}
	if err := spec.ApplyEnv(os.LookupEnv); err != nil {
		return usagef("run: %v", err)
	}
	if _, err := bench.ShardCells(spec, shard); err != nil {
		return usagef("run: --shard: %v", err)
	}
	if *lockstep != "" && *count == 0 {
		// Adaptive repetition decides from each side's own noise: the
		// sides would run different repetitions. Both run the most.
		*count = max(spec.Count, spec.MaxCount)
	}
	dir := *out
	if dir == "" {
		if dir, err = newDefaultOut(spec.Name, time.Now()); err != nil {
			return usagef("run: %v; give --out", err)
		}
	}

	// The first Ctrl-C stops the sweep cleanly: nothing new starts, the
	// current run is torn down, and the directory is left marked
	// incomplete. A second one releases what is registered and exits.
	ctx, stop := interruptible()
	defer stop()
	defer injectors.Resources.ReleaseAll()

	progress := progressTo(stderr, *quiet)
	sum, err := bench.Run(ctx, spec, bench.Options{Out: dir, Count: *count, Shard: shard, Profiles: *profiles, Progress: progress, Terminal: isTerminal(progress), CPUs: cpus, Plant: plant, Step: step, Lockstep: *lockstep})
	return runResult(stdout, sum, err, *out == "")
}

// runResult prints the summary of a sweep and decides how run ends.
func runResult(stdout io.Writer, sum bench.Summary, err error, defaultOut bool) error {
	dir := sum.Dir
	var oe *bench.OutError
	if errors.As(err, &oe) {
		if defaultOut {
			os.Remove(oe.Dir) // the empty directory newDefaultOut made
		}
		return usagef("run: %v", err)
	}
	if werr := printSummary(stdout, sum); werr != nil && err == nil {
		return fmt.Errorf("run: writing the summary: %w", werr)
	}
	if err == nil && sum.Env.Failed > 0 {
		// The sweep ran, but some of what it measured failed: CI must
		// not read the directory as a clean result.
		return fmt.Errorf("run: %d of %d recorded repetitions failed (see %s)", sum.Env.Failed, sum.Env.Recorded, filepath.Join(dir, "outcomes.jsonl"))
	}
	return err
}

// parseCPUs reads --cpus and checks the process may use them.
func parseCPUs(list string) ([]int, error) {
	if list == "" {
		return nil, nil
	}
	cpus, err := bench.ParseCPUs(list)
	if err == nil {
		err = bench.CheckCPUs(cpus)
	}
	if err != nil {
		return nil, usagef("run: --cpus: %v", err)
	}
	return cpus, nil
}

// newDefaultOut makes the default result directory, ./out/<spec>-<time>,
// with a numbered suffix if another run took that name in the same
// second: os.Mkdir fails if the name exists, so no two runs share it.
func newDefaultOut(spec string, now time.Time) (string, error) {
	base := filepath.Join("out", spec+"-"+now.Format("20060102-150405"))
	if err := os.MkdirAll("out", 0o755); err != nil {
		return "", err
	}
	for i := 1; ; i++ {
		dir := base
		if i > 1 {
			dir = fmt.Sprintf("%s-%d", base, i)
		}
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, os.ErrExist) || i == 1000 {
			return "", err
		}
	}
}

// printSummary prints what the sweep did and returns the first error
// writing it.
func printSummary(stdout io.Writer, s bench.Summary) error {
	if s.Dir == "" {
		return nil
	}
	w := &checkedWriter{w: stdout}
	e := s.Env
	state := "complete"
	if !e.Complete {
		state = "INCOMPLETE"
	}
	fmt.Fprintf(w, "spillbench: %s (%s): %d cells, %d repetitions recorded in %d rounds, %d skipped, %d failed, %.0fs (harness overhead %.0f%%)\n",
		s.Dir, state, e.Cells, e.Recorded, e.Rounds, e.Skipped, e.Failed, e.TotalSeconds, 100*e.Overhead)
	if e.StealRepeats > 0 {
		fmt.Fprintf(w, "  %d repetition(s) run again: the hypervisor stole more than %.0f%% of the CPU (%.1fs of the overhead)\n",
			e.StealRepeats, 100*e.MaxSteal, e.OverheadSeconds.StealRetries)
	}
	if e.Planted != "" {
		fmt.Fprintf(w, "  PLANTED slowdown %s: these results test the tools, not the code\n", e.Planted)
	}
	reasons := map[string]int{}
	for _, r := range s.Skipped {
		reasons[r]++
	}
	for r, n := range reasons {
		fmt.Fprintf(w, "  skipped %d cell(s): %s\n", n, r)
	}
	for i, f := range s.Failures {
		if i == 10 {
			fmt.Fprintf(w, "  ... and %d more failures in outcomes.jsonl\n", len(s.Failures)-10)
			break
		}
		fmt.Fprintf(w, "  failed: %s\n", f)
	}
	return w.err
}
