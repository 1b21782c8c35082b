package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/spillbench/spillbench/bench"
	"github.com/spillbench/spillbench/injectors"
	"github.com/spillbench/spillbench/reports"
)

// usageError is bad input: one line, exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// failedError is a command that could not do its work (a build failed, a
// side of an interleaved run crashed) where exit status 1 means a finding:
// it exits 2, like bad input, so CI can tell it from a regression.
type failedError struct{ err error }

func (e failedError) Error() string { return e.err.Error() }
func (e failedError) Unwrap() error { return e.err }

const help = `spillbench measures spill-to-disk reorder buffers and their failures.

Usage:
  spillbench run [flags]     run a sweep and write a result directory
  spillbench report DIR...   write the design report of result directories (shards merge)
  spillbench compare OLD NEW compare two result directories; exit 1 on a significant regression
  spillbench ab              run a base revision and the working tree interleaved, and compare them
  spillbench history add DIR record a run in a history store; history show plots the trend
  spillbench calibrate       run a spec twice, interleaved (A/A), and recommend a threshold
  spillbench inject          run the fault matrix of every available mechanism and mode
  spillbench list            axes, built-in specs, and the injectors available here
  spillbench survive         every-operation, byte and corruption fault sweeps, and their document
  spillbench cleanup         remove mounts, loop devices and temp dirs left by interrupted runs
  spillbench version         print the version

Run "spillbench <command> -h" for a command's flags and examples.
`

// spillbench runs the command line args and returns the exit status.
func spillbench(stdout, stderr io.Writer, args []string) (code int) {
	defer func() {
		// Whatever happens, nothing mounted stays mounted.
		if v := recover(); v != nil {
			injectors.Resources.ReleaseAll()
			fmt.Fprintf(stderr, "spillbench: internal error: %v\n", v)
			code = 70
		}
	}()
	err := dispatch(stdout, stderr, args)
	var ue usageError
	var ee exitError
	var fe failedError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "spillbench: interrupted\n")
		return 130
	case errors.As(err, &ue), errors.As(err, &fe):
		fmt.Fprintf(stderr, "spillbench: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "spillbench: %v\n", err)
	return 1
}

func dispatch(stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, help)
		return nil
	}
	switch args[0] {
	case "run":
		return runCmd(stdout, stderr, args[1:])
	case "report":
		return reportCmd(stdout, stderr, args[1:])
	case "compare":
		return compareCmd(stdout, stderr, args[1:])
	case "ab":
		return abCmd(stdout, stderr, args[1:])
	case "history":
		return historyCmd(stdout, stderr, args[1:])
	case "calibrate":
		return calibrateCmd(stdout, stderr, args[1:])
	case "inject":
		return injectCmd(stdout, stderr, args[1:])
	case "list":
		return listCmd(stdout, stderr, args[1:])
	case "survive":
		return surviveCmd(stdout, stderr, args[1:])
	case "cleanup":
		return cleanupCmd(stdout, args[1:])
	case "version":
		return versionCmd(stdout, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, help)
		return nil
	}
	return usagef("unknown command %q; run spillbench with no arguments for the list", args[0])
}

// flags is a command's FlagSet and the help it prints on -h: the flags
// and examples. A parse error is a usage error of one line.
type flags struct {
	*flag.FlagSet
	help func()
}

func newFlags(stderr io.Writer, name, examples string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // parse prints help itself, on -h only
	return &flags{FlagSet: fs, help: func() {
		fmt.Fprintf(stderr, "Usage of spillbench %s:\n", name)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		fmt.Fprintf(stderr, "\nExamples:\n%s", examples)
	}}
}

// parseWithArgs parses flags given before or between positional
// arguments, and returns the positional ones.
func (f *flags) parseWithArgs(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.help()
				return nil, err
			}
			return nil, usagef("%s: %v; see spillbench %s -h", f.Name(), err, f.Name())
		}
		if f.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, f.Arg(0))
		args = f.Args()[1:]
	}
}

func (f *flags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.help()
			return err
		}
		return usagef("%s: %v; see spillbench %s -h", f.Name(), err, f.Name())
	}
	if f.NArg() > 0 {
		return usagef("%s: unexpected argument %q; see spillbench %s -h", f.Name(), f.Arg(0), f.Name())
	}
	return nil
}

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
	terminal := false
	if progress != nil {
		if f, ok := stderr.(*os.File); ok {
			terminal = term.IsTerminal(int(f.Fd()))
		}
	}
	sum, err := bench.Run(ctx, spec, bench.Options{Out: dir, Count: *count, Shard: shard, Profiles: *profiles, Progress: progress, Terminal: terminal, CPUs: cpus, Plant: plant, Step: step, Lockstep: *lockstep})
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

func cleanupCmd(stdout io.Writer, args []string) error {
	fs := newFlags(io.Discard, "cleanup", "  spillbench cleanup\n")
	if err := fs.parse(args); err != nil {
		return err
	}
	removed, err := injectors.Cleanup("")
	for _, r := range removed {
		fmt.Fprintf(stdout, "removed %s\n", r)
	}
	if len(removed) == 0 && err == nil {
		fmt.Fprintln(stdout, "nothing to clean up")
	}
	return err
}

func versionCmd(stdout io.Writer, args []string) error {
	fs := newFlags(io.Discard, "version", "  spillbench version\n")
	if err := fs.parse(args); err != nil {
		return err
	}
	v, commit := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				commit = " " + s.Value
			}
		}
	}
	fmt.Fprintf(stdout, "spillbench %s%s %s\n", v, commit, strings.TrimSpace(runtimeVersion()))
	return nil
}

func runtimeVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.GoVersion
	}
	return ""
}

func reportCmd(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "report", `  spillbench report out/quick-20261126-101500
  spillbench report --out report/ --format md shard0 shard1 shard2
`)
	out := fs.String("out", "", "directory for the report (default: DIR/report for one DIR, ./report for several)")
	format := fs.String("format", "both", "md, html or both")
	docKind := fs.String("doc", "report", "report; tuning: the threshold-tuning design document of a tuning or default sweep; injection: the mechanism comparison of an inject run (both into --out, default docs/design)")
	dirs, err := fs.parseWithArgs(args)
	if err != nil {
		return err
	}
	if len(dirs) == 0 {
		return usagef("report: give one or more result directories, such as spillbench report out/quick-<time>")
	}
	var formats []reports.Format
	switch *format {
	case "md":
		formats = []reports.Format{reports.Markdown}
	case "html":
		formats = []reports.Format{reports.HTML}
	case "both":
		formats = []reports.Format{reports.Markdown, reports.HTML}
	default:
		return usagef("report: --format %q; use md, html or both", *format)
	}
	set, err := reports.Load(dirs...)
	if err != nil {
		return usagef("report: %v", err)
	}
	if *docKind == "tuning" {
		dir := *out
		if dir == "" {
			dir = filepath.Join("docs", "design")
		}
		run := fmt.Sprintf("spillbench run --spec %s --out %s", set.Dirs[0].Env.Spec, dirs[0])
		if len(dirs) > 1 {
			run = fmt.Sprintf("spillbench run --spec %s --shard i/%d --out DIR (once per shard)", set.Dirs[0].Env.Spec, len(dirs))
		}
		cmd := fmt.Sprintf("%s && spillbench report --doc tuning --out %s %s", run, dir, strings.Join(dirs, " "))
		if err := reports.TuningDoc(set, dir, cmd); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "spillbench: wrote %s\n", filepath.Join(dir, "threshold-tuning.md"))
		return nil
	} else if *docKind == "injection" {
		dir := *out
		if dir == "" {
			dir = filepath.Join("docs", "design")
		}
		cmd := fmt.Sprintf("go run -tags failpoint ./cmd/spillbench inject --out %s && spillbench report --doc injection --out %s %s", dirs[0], dir, strings.Join(dirs, " "))
		if err := reports.InjectionDoc(set, dir, cmd); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "spillbench: wrote %s\n", filepath.Join(dir, "injection-mechanisms.md"))
		return nil
	} else if *docKind != "report" {
		return usagef("report: --doc %q; use report, tuning or injection", *docKind)
	}
	dir := *out
	if dir == "" {
		dir = "report"
		if len(dirs) == 1 {
			dir = filepath.Join(dirs[0], "report")
		}
	}
	cmd := "spillbench report " + strings.Join(dirs, " ")
	w, err := reports.Generate(set, reports.Options{Out: dir, Formats: formats, Command: cmd})
	if err != nil {
		return err
	}
	for _, f := range w.Files {
		if strings.HasSuffix(f, "report.md") || strings.HasSuffix(f, "report.html") {
			fmt.Fprintf(stdout, "spillbench: wrote %s\n", f)
		}
	}
	return nil
}
