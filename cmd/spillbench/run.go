package main

import (
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
	specName := fs.String("spec", "quick", "sweep spec: quick, ci, default, tuning, full, or a YAML file")
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
	var step func(string, int) error
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
	var cpus []int
	if *cpuList != "" {
		if cpus, err = bench.ParseCPUs(*cpuList); err != nil {
			return usagef("run: --cpus: %v", err)
		}
	}
	spec, err := bench.LoadSpec(*specName)
	if err != nil {
		return usagef("run: %v", err)
	}
	if err := spec.ApplyEnv(os.LookupEnv); err != nil {
		return usagef("run: %v", err)
	}
	if *lockstep != "" && *count == 0 {
		// Adaptive repetition decides from each side's own noise: the
		// sides would run different repetitions. Both run the most.
		*count = max(spec.Count, spec.MaxCount)
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("out", spec.Name+"-"+time.Now().Format("20060102-150405"))
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return usagef("run: --out %s is not empty; give a new directory", dir)
	}

	// The first Ctrl-C stops the sweep cleanly: nothing new starts, the
	// current run is torn down, and the directory is left marked
	// incomplete. A second one releases what is registered and exits.
	ctx, stop := interruptible()
	defer stop()
	defer injectors.Resources.ReleaseAll()

	progress := progressTo(stderr, *quiet)
	sum, err := bench.Run(ctx, spec, bench.Options{Out: dir, Count: *count, Shard: shard, Profiles: *profiles, Progress: progress, Terminal: isTerminal(progress), CPUs: cpus, Plant: plant, Step: step, Lockstep: *lockstep})
	printSummary(stdout, sum)
	return err
}

func printSummary(w io.Writer, s bench.Summary) {
	if s.Dir == "" {
		return
	}
	e := s.Env
	state := "complete"
	if !e.Complete {
		state = "INCOMPLETE"
	}
	fmt.Fprintf(w, "spillbench: %s (%s): %d cells, %d repetitions recorded in %d rounds, %d skipped, %d failed, %.0fs (harness overhead %.0f%%)\n",
		s.Dir, state, e.Cells, e.Recorded, e.Rounds, e.Skipped, e.Failed, e.TotalSeconds, 100*e.Overhead)
	if e.StealRepeats > 0 {
		fmt.Fprintf(w, "  %d repetition(s) run again: the hypervisor stole more than %.0f%% of the CPU\n", e.StealRepeats, 100*e.MaxSteal)
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
}
