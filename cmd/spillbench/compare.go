package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spillbench/spillbench/bench"
	"github.com/spillbench/spillbench/reports"
)

// stdin is what "-" reads; tests replace it.
var stdin io.Reader = os.Stdin

func compareCmd(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "compare", `  spillbench compare out/base out/pr
  spillbench compare --metric sec/op,items/s --threshold 3% --format markdown base pr > comment.md
  spillbench compare old.txt new.txt                 go test -bench output, every unit
  spillbench compare old-1.txt,old-2.txt -          several files a side; - is standard input

OLD and NEW are each a result directory, a file in Go benchmark format, or
a comma-separated list of them. Exit status: 0 no regression, 1 a
regression or (without --allow-missing) a benchmark the new side lost or a
cell that failed, 2 bad input or a comparison too small to see anything.
`)
	c := compareFlags{stderr: stderr}
	c.register(fs)
	sides, err := fs.parseWithArgs(args)
	if err != nil {
		return err
	}
	if len(sides) != 2 {
		return usagef("compare: give exactly two inputs, OLD and NEW (result directories or Go benchmark files; a,b for several)")
	}
	if err := c.check("compare"); err != nil {
		return err
	}
	return c.compare(stdout, strings.Split(sides[0], ","), strings.Split(sides[1], ","))
}

// compareFlags are the flags of a comparison, shared by compare and ab.
type compareFlags struct {
	metrics, threshold, format, filter *string
	alpha                              *float64
	allowMissing, drift                *bool
	thr                                float64 // threshold, parsed by check
	cmd                                string
	stderr                             io.Writer // warnings about the inputs
}

func (c *compareFlags) register(fs *flags) {
	c.metrics = fs.String("metric", "", "comma-separated units to compare (default: sec/op,items/s for result directories, every unit both sides have otherwise)")
	c.threshold = fs.String("threshold", "5%", "smallest relative change that counts as a regression, as 5% or 0.05")
	c.alpha = fs.Float64("alpha", reports.DefaultAlpha, "significance level, over every row compared (Holm-Bonferroni)")
	c.format = fs.String("format", "text", "text, csv, json or markdown")
	c.filter = fs.String("filter", "", "benchproc filter on the results compared (default: the engine's and external targets' cells for result directories, everything otherwise)")
	c.allowMissing = fs.Bool("allow-missing", false, "pass the gate though the new side lacks benchmarks the old has, or has failing cells")
	c.drift = fs.Bool("drift", true, "for result directories run apart (not interleaved), judge each time row relative to the change all rows share, which the machine's speed moves; false compares the raw values")
}

// check validates the flags for the command cmd.
func (c *compareFlags) check(cmd string) error {
	c.cmd = cmd
	thr, err := bench.ParsePercent(*c.threshold)
	if err == nil && thr < 0 {
		err = fmt.Errorf("%q is negative", *c.threshold)
	}
	if err != nil {
		return usagef("%s: --threshold %v", cmd, err)
	}
	c.thr = thr
	if *c.alpha <= 0 || *c.alpha >= 1 {
		return usagef("%s: --alpha %g; give a level between 0 and 1, such as 0.05", cmd, *c.alpha)
	}
	if !slices.Contains([]string{"text", "csv", "json", "markdown"}, *c.format) {
		return usagef("%s: --format %q; use text, csv, json or markdown", cmd, *c.format)
	}
	return nil
}

// compare writes the comparison of two inputs, each one or more result
// directories or benchmark files, and returns exit status 1 if the gate
// fails: a regression, or a benchmark lost or failing on the new side.
func (c *compareFlags) compare(stdout io.Writer, oldPaths, newPaths []string) error {
	if slices.Contains(oldPaths, "-") && slices.Contains(newPaths, "-") {
		return usagef("%s: only one side can be - (standard input)", c.cmd)
	}
	old, err := reports.LoadBenchmarks(stdin, oldPaths...)
	if err != nil {
		return usagef("%s: %v", c.cmd, err)
	}
	cur, err := reports.LoadBenchmarks(stdin, newPaths...)
	if err != nil {
		return usagef("%s: %v", c.cmd, err)
	}
	if c.stderr != nil {
		warnings(c.stderr, append(old.Warnings(), cur.Warnings()...))
	}
	// Result directories hold the machine's baselines (Ring, RawFS) and
	// work metrics beside the engine's cells; the gate is about the cells'
	// time and throughput. Anything else is compared whole, as benchstat.
	ours := !old.Plain() && !cur.Plain()
	filter, metrics := *c.filter, *c.metrics
	if filter == "" && ours {
		filter = targetCells
	}
	if metrics == "" && ours {
		metrics = "sec/op,items/s"
	}
	units := tidyUnits(strings.Split(metrics, ","))
	opt := reports.CompareOptions{Alpha: *c.alpha, Threshold: c.thr, Drift: *c.drift && ours}
	cmp, err := reports.CompareSets(old, cur, units, filter, opt)
	if err != nil {
		return usagef("%s: %v", c.cmd, err)
	}
	if len(cmp.Rows) == 0 {
		what := "any unit"
		if len(units) > 0 {
			what = strings.Join(units, ", ")
		}
		return usagef("%s: no benchmark with %s is on both sides (filter %q)", c.cmd, what, filter)
	}
	cmp.OldLabel, cmp.NewLabel = label(oldPaths), label(newPaths)
	if err := cmp.Write(stdout, *c.format); err != nil {
		return err
	}
	switch {
	case cmp.Blind():
		return failedError{fmt.Errorf("%s: no row could show any change with so few runs; record more runs a side (see the footnotes)", c.cmd)}
	case len(cmp.Regressions()) > 0:
		return exitError{1}
	case !*c.allowMissing && len(cmp.Lost())+len(cmp.Failing) > 0:
		return fmt.Errorf("%s: the new side lacks %d benchmark(s) the old has and has %d failing cell(s); fix them or pass --allow-missing",
			c.cmd, len(cmp.Lost()), len(cmp.Failing))
	}
	return nil
}

// label names a side in tables by its inputs' base names: "base" and
// "head" for ab, "old.txt" for a file.
func label(paths []string) string {
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	return strings.Join(names, ",")
}

// tidyUnits maps the units people write to benchfmt's tidied ones.
func tidyUnits(us []string) []string {
	var out []string
	for _, u := range us {
		u = strings.TrimSpace(u)
		switch u {
		case "ns/op", "time/op":
			u = "sec/op"
		case "MB/s":
			u = "B/s"
		}
		if u != "" {
			out = append(out, u)
		}
	}
	return out
}

// targetCells is the benchproc filter on a result directory's measured
// cells, the engine's or an external target's: not the machine's
// baselines (Ring, RawFS) beside them. compare, calibrate and history
// use it by default.
const targetCells = "(.name:Engine OR .name:External)"
