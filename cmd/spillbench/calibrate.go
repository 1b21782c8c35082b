package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spillbench/spillbench/bench"
	"github.com/spillbench/spillbench/injectors"
	"github.com/spillbench/spillbench/reports"
)

func calibrateCmd(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "calibrate", `  spillbench calibrate --spec quick              two sweeps of this binary, interleaved, as ab runs them
  spillbench calibrate --spec quick --sequential one sweep after the other, as compare of two stored runs sees them
`)
	specName := fs.String("spec", "quick", "spec to run twice")
	metrics := fs.String("metric", "sec/op,items/s", "units to calibrate")
	sequential := fs.Bool("sequential", false, "run the two sweeps one after the other instead of interleaved")
	quiet := fs.Bool("q", false, "no progress output")
	cpus := fs.String("cpus", "one", cpusUsage)
	perProcess := perProcessFlag(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := checkPerProcess("calibrate", *perProcess); err != nil {
		return err
	}
	spec, err := bench.LoadSpec(*specName)
	if err != nil {
		return usagef("calibrate: %v", err)
	}
	cpuList, pinned, err := sideCPUs("calibrate", *cpus)
	if err != nil {
		return err
	}
	base := filepath.Join("out", "calibrate-"+time.Now().Format("20060102-150405"))
	ctx, stop := interruptible()
	defer stop()
	defer injectors.Resources.ReleaseAll()
	var dirs []string
	if *sequential {
		progress := progressTo(stderr, *quiet)
		for _, side := range []string{"a", "b"} {
			dir := filepath.Join(base, side)
			if _, err := bench.Run(ctx, spec, bench.Options{Out: dir, Progress: progress, CPUs: cpuList}); err != nil {
				return err
			}
			dirs = append(dirs, dir)
		}
	} else {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("calibrate: finding this binary to run it twice: %w", err)
		}
		if !*quiet {
			fmt.Fprintf(stderr, "spillbench: calibrate: two sweeps of %s, runs interleaved, %s, into %s\n", spec.Name, pinned, base)
		}
		pin := pinArgs(cpuList)
		sides := []bench.Side{{Name: "a", Path: self, Args: pin}, {Name: "b", Path: self, Args: pin}}
		if dirs, err = interleaved(ctx, spec, base, 0, *perProcess, sides, stderr, progressTo(stderr, *quiet)); err != nil {
			return err
		}
	}
	var sets []*reports.Set
	for _, dir := range dirs {
		s, err := reports.Load(dir)
		if err != nil {
			return err
		}
		sets = append(sets, s)
	}
	rec, err := reports.Calibrate(sets[0], sets[1], tidyUnits(strings.Split(*metrics, ",")), targetCells)
	if err != nil {
		return err
	}
	method := "one after the other, as compare of two stored runs sees them"
	if !*sequential {
		method = "with their runs interleaved, as spillbench ab runs them, " + processPairs(*perProcess)
	}
	fmt.Fprintf(stdout, "Sweeps run %s, %s.\n", method, pinned)
	fmt.Fprint(stdout, rec)
	return nil
}

// processPairs says how often interleaved sides start afresh (see
// interleaved).
func processPairs(perProcess int) string {
	switch {
	case perProcess == 1:
		return "a new pair of processes for every repetition"
	case perProcess > 1:
		return fmt.Sprintf("a new pair of processes every %d repetitions", perProcess)
	}
	return "all in one pair of processes"
}
