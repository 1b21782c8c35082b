package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spillbench/spillbench/bench"
	"github.com/spillbench/spillbench/reports"
)

const historyHelp = `Usage of spillbench history:
  spillbench history add [--store DIR] [--commit SHA] DIR|FILE
        record a result directory, or a go test -bench file, as a new entry of the store
  spillbench history show [--store DIR] [--metric UNIT] [--threshold 0%] [--alpha 0.05] [--out FILE]
        print the trend and where each benchmark's level moved, plot both;
        exit 1 if the latest entries are still at a worse level

Run "spillbench history add -h" or "spillbench history show -h" for their flags.
`

func historyCmd(stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, historyHelp)
		return nil
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stderr, historyHelp)
		return flag.ErrHelp
	case "add":
		return historyAdd(stdout, stderr, args[1:])
	case "show":
		return historyShow(stdout, stderr, args[1:])
	}
	return usagef("history: unknown subcommand %q; use add or show", args[0])
}

func historyAdd(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "history add", `  spillbench history add out/quick-20261126 --commit $(git rev-parse HEAD) --store .spillbench-history
  go test -bench . -count 10 ./... | spillbench history add --commit $(git rev-parse HEAD) -
`)
	commit := fs.String("commit", "", "commit the run measured (default: the one in its env.json)")
	store := fs.String("store", ".spillbench-history", "history directory")
	dirs, err := fs.parseWithArgs(args)
	if err != nil {
		return err
	}
	if len(dirs) != 1 {
		return usagef("history add: give one result directory or Go benchmark file (- for standard input)")
	}
	set, err := reports.LoadBenchmarks(stdin, dirs[0])
	if err != nil {
		return usagef("history add: %v", err)
	}
	warnings(stderr, set.Warnings())
	if len(set.Dirs) != 1 {
		return usagef("history add: %s holds %d result directories; add one at a time", dirs[0], len(set.Dirs))
	}
	if len(set.Dirs[0].Results) == 0 {
		return usagef("history add: %s holds no benchmark results (no repetition passed); an entry without them would leave history show nothing to track, so it is not added", dirs[0])
	}
	entry, err := reports.AddHistory(*store, set.Dirs[0], *commit)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "spillbench: added %s\n", entry)
	return nil
}

func historyShow(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "history show", `  spillbench history show --store .spillbench-history
  spillbench history show --metric items/s --threshold 3% --out trend.svg

Every benchmark's series of medians, one per entry, is searched for change
points: entries where its level moved and stayed (E-divisive means, a
permutation test, Holm-Bonferroni over the benchmarks at --alpha). A level
needs 3 entries, so a change shows once 3 entries have it.

Exit status: 0 no regression in effect, 1 a regression in effect (a
benchmark's latest change to a worse level, by more than --threshold, that
no later change undid), 2 bad input.
`)
	metric := fs.String("metric", "sec/op", "unit to track")
	store := fs.String("store", ".spillbench-history", "history directory")
	filter := fs.String("filter", "", "benchproc filter on the results tracked (default: the engine's and external targets' cells where the entries are result directories)")
	out := fs.String("out", "", "where to write the trend plot (default STORE/trend-<metric>.svg)")
	alpha := fs.Float64("alpha", reports.DefaultAlpha, "family-wise error rate of change detection over all benchmarks")
	threshold := fs.String("threshold", "0%", "smallest change to a worse level that counts as a regression")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *alpha <= 0 || *alpha >= 1 {
		return usagef("history show: --alpha %g; give a level between 0 and 1, such as 0.05", *alpha)
	}
	thr, err := bench.ParsePercent(*threshold)
	if err == nil && thr < 0 {
		err = fmt.Errorf("%q is negative", *threshold)
	}
	if err != nil {
		return usagef("history show: --threshold %v", err)
	}
	unit := tidyUnits([]string{*metric})
	if len(unit) != 1 {
		return usagef("history show: --metric %q; give one unit, such as sec/op", *metric)
	}
	h, err := reports.LoadHistory(*store)
	if err != nil {
		return usagef("history show: %v", err)
	}
	cfg := reports.DefaultChangePoints
	cfg.Alpha = *alpha
	f := *filter
	if f == "" && !h.Plain() {
		f = targetCells
	}
	t, err := h.Trend(unit[0], f, cfg)
	if err != nil {
		return usagef("history show: %v", err)
	}
	for _, e := range t.Skipped {
		fmt.Fprintf(stderr, "spillbench: warning: history entry %s holds no %s result and is left out\n", e, t.Unit)
	}
	for _, p := range t.Points {
		fmt.Fprintf(stdout, "%-24s %s [%s, %s]\n", p.Label, fmtFloat(p.Center), fmtFloat(p.Lo), fmtFloat(p.Hi))
	}
	for _, c := range t.Changes {
		dir := "better"
		if c.Worse {
			dir = "worse"
		}
		fmt.Fprintf(stdout, "change point at %s: %s %s %s [%s, %s] %s (p=%.4f)\n",
			c.Entry, c.Benchmark, t.Unit, historyChange(c.Ratio), historyChange(c.Lo), historyChange(c.Hi), dir, c.P)
	}
	fmt.Fprintln(stdout, historySummary(t, len(t.Points)))
	regs := t.Regressions(thr)
	for _, c := range regs {
		since := ""
		if c.Net != c.Ratio {
			since = fmt.Sprintf("; %s net after later changes", historyChange(c.Net))
		}
		fmt.Fprintf(stdout, "regression in effect: %s %s %s since %s%s\n", c.Benchmark, t.Unit, historyChange(c.Ratio), c.Entry, since)
	}
	path := *out
	if path == "" {
		path = filepath.Join(*store, "trend-"+strings.ReplaceAll(t.Unit, "/", "-")+".svg")
	}
	if err := h.WriteTrendPlot(path, t); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "spillbench: wrote %s\n", path)
	if len(regs) > 0 {
		return exitError{1}
	}
	return nil
}

// historySummary says what history show searched and what it found.
func historySummary(t *reports.HistoryTrend, entries int) string {
	how := fmt.Sprintf("E-divisive means, permutation test, Holm over %d benchmarks at alpha %g", len(t.Benchmarks), t.Config.Alpha)
	if entries < 2*t.Config.MinSegment {
		return fmt.Sprintf("no change point can be found in %d entries: it needs %d entries at the old level and %d at the new (%s)",
			entries, t.Config.MinSegment, t.Config.MinSegment, how)
	}
	moved := map[string]bool{}
	for _, c := range t.Changes {
		moved[c.Benchmark] = true
	}
	return fmt.Sprintf("%d change points in %d of %d benchmarks over %d entries (%s)",
		len(t.Changes), len(moved), len(t.Benchmarks), entries, how)
}

// historyChange prints a ratio as a signed percentage change.
func historyChange(ratio float64) string { return fmt.Sprintf("%+.1f%%", 100*(ratio-1)) }

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }
