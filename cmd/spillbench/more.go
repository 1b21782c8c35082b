package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spillbench/spillbench/bench"
	"github.com/spillbench/spillbench/engine"
	"github.com/spillbench/spillbench/injectors"
	"github.com/spillbench/spillbench/reports"
)

// exitError carries an exit status other than 1 without a message.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func compareCmd(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "compare", `  spillbench compare out/base out/pr
  spillbench compare --metric sec/op,items/s --threshold 3% --format markdown base pr > comment.md
`)
	var c compareFlags
	c.register(fs)
	dirs, err := fs.parseWithArgs(args)
	if err != nil {
		return err
	}
	if len(dirs) != 2 {
		return usagef("compare: give exactly two result directories, OLD and NEW")
	}
	if err := c.check("compare"); err != nil {
		return err
	}
	return c.compare(stdout, dirs[0], dirs[1])
}

// compareFlags are the flags of a comparison, shared by compare and ab.
type compareFlags struct {
	metrics, threshold, format, filter *string
	alpha                              *float64
	thr                                float64 // threshold, parsed by check
	cmd                                string
}

func (c *compareFlags) register(fs *flags) {
	c.metrics = fs.String("metric", "sec/op,items/s", "comma-separated units to compare")
	c.threshold = fs.String("threshold", "5%", "smallest relative change that counts as a regression")
	c.alpha = fs.Float64("alpha", reports.DefaultAlpha, "significance level")
	c.format = fs.String("format", "text", "text, csv, json or markdown")
	c.filter = fs.String("filter", ".name:Engine", "benchproc filter on the results compared")
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

// compare writes the comparison of two result directories and returns
// exit status 1 if it found a regression.
func (c *compareFlags) compare(stdout io.Writer, oldDir, newDir string) error {
	old, err := reports.Load(oldDir)
	if err != nil {
		return usagef("%s: %v", c.cmd, err)
	}
	cur, err := reports.Load(newDir)
	if err != nil {
		return usagef("%s: %v", c.cmd, err)
	}
	units := tidyUnits(strings.Split(*c.metrics, ","))
	cmp, err := reports.CompareSets(old, cur, units, *c.filter, *c.alpha, c.thr)
	if err != nil {
		return usagef("%s: %v", c.cmd, err)
	}
	if len(cmp.Rows) == 0 {
		return usagef("%s: no benchmark of %v is in both directories", c.cmd, units)
	}
	if err := cmp.Write(stdout, *c.format); err != nil {
		return err
	}
	if len(cmp.Regressions()) > 0 {
		return exitError{1}
	}
	return nil
}

// tidyUnits maps the units people write to benchfmt's tidied ones.
func tidyUnits(us []string) []string {
	var out []string
	for _, u := range us {
		u = strings.TrimSpace(u)
		switch u {
		case "ns/op", "time/op":
			u = "sec/op"
		}
		if u != "" {
			out = append(out, u)
		}
	}
	return out
}

func listCmd(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "list", "  spillbench list\n")
	if err := fs.parse(args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "axes (spec keys) and their values:")
	for _, a := range [][2]string{
		{"workload", strings.Join(engine.Workloads, ", ") + " (with items and scale)"},
		{"threshold", "sizes such as 64KiB, or a range such as 4KiB..64MiB x4"},
		{"granularity", "batch, item"},
		{"compression", "none, zstd, zstd:1 .. zstd:22"},
		{"reclaim", "keep, respill"},
		{"backend", "dir, spooled, memory"},
		{"workers", "1, 2, ..."},
		{"ring", "reorder window, such as 1024"},
		{"fault", "none, or {injector, mode, site, after, nth, persistent, rule, terms, probability, latency, workloads}"},
	} {
		fmt.Fprintf(stdout, "  %-12s %s\n", a[0], a[1])
	}
	fmt.Fprintln(stdout, "built-in specs:")
	for _, name := range bench.Builtins() {
		s, err := bench.LoadSpec(name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  %-8s %d cells x %d repetitions\n", name, len(s.Cells()), s.Count)
	}
	fmt.Fprintln(stdout, "injectors on this host:")
	for _, inj := range injectors.All() {
		state := "available"
		if err := inj.Probe(); err != nil {
			state = err.Error()
		}
		var modes []string
		for _, m := range inj.Modes() {
			if injectors.ProbeMode(inj, m) == nil || inj.Probe() != nil {
				modes = append(modes, string(m))
			} else {
				modes = append(modes, string(m)+" (unavailable)")
			}
		}
		fmt.Fprintf(stdout, "  %-10s %-9s %s; modes: %s\n", inj.Name(), inj.Family(), state, strings.Join(modes, ", "))
	}
	return nil
}

// interruptible returns a context the first Ctrl-C (or SIGTERM) cancels;
// after it, a second one releases what the injectors hold and exits. The
// returned stop, safe to call more than once, uninstalls both handlers
// and waits for its goroutine.
func interruptible() (context.Context, func()) {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	finished := make(chan struct{})
	uninstall := make(chan func(), 1)
	go func() {
		select {
		case <-ctx.Done():
			// Let the run wind down; the next signal reaches the
			// hard handler, installed before this one lets go.
			hard := injectors.HandleSignals()
			cancel()
			uninstall <- hard
		case <-finished:
			uninstall <- func() {}
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			close(finished)
			(<-uninstall)()
			cancel()
		})
	}
}

// progressTo is where a command's progress goes: stderr, or nowhere
// with -q.
func progressTo(stderr io.Writer, quiet bool) io.Writer {
	if quiet {
		return nil
	}
	return stderr
}

func injectCmd(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "inject", `  spillbench inject                          every available mechanism and mode
  spillbench inject --mechanisms mock,tmpfs --count 10
`)
	mechs := fs.String("mechanisms", "", "comma-separated injectors (default all)")
	modes := fs.String("modes", "", "comma-separated fault modes (default all)")
	count := fs.Int("count", 10, "repetitions per mechanism x mode (10 or more to judge determinism)")
	out := fs.String("out", "", "result directory (default ./out/inject-<time>)")
	quiet := fs.Bool("q", false, "no progress output")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *count < 1 {
		return usagef("inject: --count %d; give at least 1", *count)
	}
	want := func(list, v string) bool { return list == "" || slices.Contains(strings.Split(list, ","), v) }
	var faults []string
	for _, inj := range injectors.All() {
		if !want(*mechs, inj.Name()) {
			continue
		}
		for _, m := range inj.Modes() {
			if want(*modes, string(m)) {
				faults = append(faults, "  - "+matrixFaultYAML(inj.Name(), m))
			}
		}
	}
	if len(faults) == 0 {
		return usagef("inject: no mechanism and mode match --mechanisms %q --modes %q; see spillbench list", *mechs, *modes)
	}
	// A baseline without injector, and each mechanism armed with a fault
	// that never fires: what the mechanism costs the engine on its own.
	faults = append(faults, "  - none")
	for _, inj := range injectors.All() {
		if want(*mechs, inj.Name()) {
			faults = append(faults, "  - "+quietFaultYAML(inj.Name()))
		}
	}
	src := fmt.Sprintf("name: inject\ncount: %d\nwarmup: 1\nprofiles: none\nworkload:\n  - {name: hol, items: 1500, scale: 0.2}\nthreshold: [16KiB]\nfault:\n%s\n",
		*count, strings.Join(faults, "\n"))
	spec, err := bench.ParseSpec("inject.yaml", []byte(src))
	if err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("out", "inject-"+time.Now().Format("20060102-150405"))
	}
	ctx, stop := interruptible()
	defer stop()
	defer injectors.Resources.ReleaseAll()
	progress := progressTo(stderr, *quiet)
	sum, err := bench.Run(ctx, spec, bench.Options{Out: dir, Progress: progress})
	printSummary(stdout, sum)
	if err != nil {
		return err
	}
	set, err := reports.Load(dir)
	if err != nil {
		return err
	}
	w, err := reports.Generate(set, reports.Options{Out: filepath.Join(dir, "report"), Command: "spillbench inject"})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "spillbench: wrote %s\n", w.Files[len(w.Files)-1])
	return nil
}

// quietFaultYAML arms a mechanism with a fault that cannot fire in a run.
func quietFaultYAML(mech string) string {
	switch mech {
	case "tmpfs":
		return "{injector: tmpfs, mode: enospc, after: 1GiB, quiet: true}"
	case "fallocate":
		return "{injector: fallocate, mode: enospc, after: 16MiB, quiet: true}"
	case "vanish":
		return "{injector: vanish, mode: rmdir-between, nth: 1000000000, quiet: true}"
	}
	return fmt.Sprintf("{injector: %s, mode: eio, nth: 1000000000, quiet: true}", mech)
}

// matrixFaultYAML is the fault the inject matrix arms for a mechanism and
// mode: enough to meet hol's spill at a 16 KiB threshold.
func matrixFaultYAML(mech string, mode injectors.Mode) string {
	f := fmt.Sprintf("{injector: %s, mode: %s", mech, mode)
	switch {
	case mode == injectors.ModeLatency:
		f += ", latency: 1ms, persistent: true"
	case (mech == "tmpfs" || mech == "fallocate") && mode == injectors.ModeENOSPC:
		f += ", after: 256KiB"
	case mech == "fuse" && mode == injectors.ModeENOENT:
		f += ", persistent: true"
	case mech == "fuse":
		f += ", nth: 3, persistent: true"
	case mech == "mock" || mech == "failpoint":
		f += ", nth: 3"
	}
	return f + "}"
}

func historyCmd(stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		return usagef("history: use history add DIR or history show; see spillbench history add -h")
	}
	switch args[0] {
	case "add":
		fs := newFlags(stderr, "history add", "  spillbench history add out/quick-20261126 --commit $(git rev-parse HEAD) --store .spillbench-history\n")
		commit := fs.String("commit", "", "commit the run measured (default: the one in its env.json)")
		store := fs.String("store", ".spillbench-history", "history directory")
		dirs, err := fs.parseWithArgs(args[1:])
		if err != nil {
			return err
		}
		if len(dirs) != 1 {
			return usagef("history add: give one result directory")
		}
		set, err := reports.Load(dirs[0])
		if err != nil {
			return usagef("history add: %v", err)
		}
		entry, err := reports.AddHistory(*store, dirs[0], set.Dirs[0].Env, *commit)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "spillbench: added %s\n", entry)
		return nil
	case "show":
		fs := newFlags(stderr, "history show", "  spillbench history show --metric items/s --store .spillbench-history\n")
		metric := fs.String("metric", "sec/op", "unit to track")
		store := fs.String("store", ".spillbench-history", "history directory")
		filter := fs.String("filter", ".name:Engine", "benchproc filter on the results tracked")
		out := fs.String("out", "", "where to write the trend plot (default STORE/trend-<metric>.svg)")
		alpha := fs.Float64("alpha", reports.DefaultAlpha, "significance level for change detection")
		if err := fs.parse(args[1:]); err != nil {
			return err
		}
		unit := tidyUnits([]string{*metric})[0]
		h, err := reports.LoadHistory(*store)
		if err != nil {
			return usagef("history show: %v", err)
		}
		trend, changes, err := h.Trend(unit, *filter, *alpha)
		if err != nil {
			return usagef("history show: %v", err)
		}
		for _, p := range trend {
			fmt.Fprintf(stdout, "%-24s %s [%s, %s]\n", p.Label, fmtFloat(p.Center), fmtFloat(p.Lo), fmtFloat(p.Hi))
		}
		for _, c := range changes {
			fmt.Fprintln(stdout, c)
		}
		path := *out
		if path == "" {
			path = filepath.Join(*store, "trend-"+strings.ReplaceAll(unit, "/", "-")+".svg")
		}
		if err := h.WriteTrendPlot(path, unit, trend); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "spillbench: wrote %s\n", path)
		return nil
	}
	return usagef("history: unknown subcommand %q; use add or show", args[0])
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

func calibrateCmd(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "calibrate", `  spillbench calibrate --spec quick              two sweeps of this binary, interleaved, as ab runs them
  spillbench calibrate --spec quick --sequential one sweep after the other, as compare of two stored runs sees them
`)
	specName := fs.String("spec", "quick", "spec to run twice")
	metrics := fs.String("metric", "sec/op,items/s", "units to calibrate")
	sequential := fs.Bool("sequential", false, "run the two sweeps one after the other instead of interleaved")
	quiet := fs.Bool("q", false, "no progress output")
	if err := fs.parse(args); err != nil {
		return err
	}
	spec, err := bench.LoadSpec(*specName)
	if err != nil {
		return usagef("calibrate: %v", err)
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
			if _, err := bench.Run(ctx, spec, bench.Options{Out: dir, Progress: progress}); err != nil {
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
			fmt.Fprintf(stderr, "spillbench: calibrate: two sweeps of %s, repetitions interleaved, into %s\n", spec.Name, base)
		}
		if dirs, err = interleaved(ctx, spec, base, 0, 0, []bench.Side{{Name: "a", Path: self}, {Name: "b", Path: self}}, stderr); err != nil {
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
	rec, err := reports.Calibrate(sets[0], sets[1], tidyUnits(strings.Split(*metrics, ",")), ".name:Engine")
	if err != nil {
		return err
	}
	method := "interleaved, as spillbench ab runs them"
	if *sequential {
		method = "one after the other, as compare of two stored runs sees them"
	}
	fmt.Fprintf(stdout, "Sweeps run %s.\n", method)
	fmt.Fprint(stdout, rec)
	return nil
}

func surviveCmd(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "survive", `  spillbench survive                                   every-operation, byte and corruption sweeps
  spillbench survive --doc docs/design/fault-survival.md
`)
	out := fs.String("out", "", "result directory (default ./out/survive-<time>)")
	docPath := fs.String("doc", "", "where to write the document (default DIR/fault-survival.md)")
	stride := fs.Int("stride", 1, "corruption sweep: every stride-th bit and length")
	quiet := fs.Bool("q", false, "no progress output")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *stride < 1 {
		return usagef("survive: --stride %d; give at least 1", *stride)
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("out", "survive-"+time.Now().Format("20060102-150405"))
	}
	progress := progressTo(stderr, *quiet)
	n, err := bench.Survive(bench.SurvivalOptions{Out: dir, Progress: progress, Stride: *stride})
	if err != nil {
		return err
	}
	runs, env, err := reports.LoadSurvival(dir)
	if err != nil {
		return err
	}
	path := *docPath
	if path == "" {
		path = filepath.Join(dir, "fault-survival.md")
	}
	cmd := "spillbench survive"
	if *stride > 1 {
		cmd += fmt.Sprintf(" --stride %d", *stride)
	}
	if err := os.WriteFile(path, reports.SurvivalDoc(runs, env, cmd), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "spillbench: %d survival runs in %s; wrote %s\n", n, dir, path)
	return nil
}
