package reports

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spillbench/spillbench/internal/atomicfile"
)

// Format is a report's output format.
type Format string

const (
	Markdown Format = "md"
	HTML     Format = "html"
)

// Options says what to write.
type Options struct {
	Out     string   // directory for report.md, report.html and plots/
	Formats []Format // default both
	// Command is the command line that made the report, printed in it so
	// it can be reproduced; empty means "spillbench report DIR...".
	Command string
}

// Written lists the files a report wrote.
type Written struct{ Files []string }

// Generate writes the design report of a set. It builds everything in
// memory first and writes only if all of it succeeded, so a failure
// leaves no half report. The same inputs give byte-identical files.
func Generate(s *Set, opt Options) (Written, error) {
	if len(opt.Formats) == 0 {
		opt.Formats = []Format{Markdown, HTML}
	}
	d, err := build(s, opt)
	if err != nil {
		return Written{}, err
	}
	files := map[string][]byte{}
	for _, f := range d.figures() {
		files[filepath.Join("plots", f.name+".svg")] = f.svg
		files[filepath.Join("plots", f.name+".png")] = f.png
	}
	for _, f := range opt.Formats {
		switch f {
		case Markdown:
			files["report.md"] = d.markdown()
		case HTML:
			files["report.html"] = d.html()
		default:
			return Written{}, fmt.Errorf("unknown report format %q; use md, html or both", f)
		}
	}
	if err := os.MkdirAll(filepath.Join(opt.Out, "plots"), 0o755); err != nil {
		return Written{}, err
	}
	// Every file is written in full before any replaces its old version:
	// a full disk leaves the previous report as it was.
	paths := map[string][]byte{}
	var w Written
	for _, name := range slices.Sorted(mapKeys(files)) {
		path := filepath.Join(opt.Out, name)
		paths[path] = files[name]
		w.Files = append(w.Files, path)
	}
	if err := atomicfile.WriteFiles(paths, 0o644); err != nil {
		return Written{}, fmt.Errorf("writing the report into %s (what was there is unchanged): %w", opt.Out, err)
	}
	return w, nil
}

// build assembles the report.
// reproduce is the commands that make such a result again: the spec the
// sweep ran, as its result directory keeps it (a built-in spec can change
// between versions; a YAML file can move), with its repetitions, into new
// directories, and the report of those.
func reproduce(s *Set) string {
	var runs, outs []string
	for _, d := range s.Dirs {
		e := d.Env
		out := d.Path + "-again"
		args := []string{"spillbench run --spec", filepath.Join(d.Path, "spec.yaml")}
		if e.MinCount > 0 && e.MinCount == e.MaxCount {
			args = append(args, "--count", fmt.Sprint(e.MinCount))
		}
		if e.Shard != "" && e.Shard != "0/1" {
			args = append(args, "--shard", e.Shard)
		}
		if e.Planted != "" {
			args = append(args, "--plant", "'"+e.Planted+"'")
		}
		runs = append(runs, "`"+strings.Join(append(args, "--out", out), " ")+"`")
		outs = append(outs, out)
	}
	return strings.Join(runs, ", ") + ", then `spillbench report " + strings.Join(outs, " ") + "`"
}

func build(s *Set, opt Options) (*doc, error) {
	d := &doc{}
	env := s.Dirs[0].Env
	d.h(1, "spillbench report: %s", env.Spec)
	d.h(2, "Question")
	if externalOnly(s) {
		d.p("How does the spill threshold trade throughput against disk traffic and memory for the external target %s, how close does its spill come to the limits measured beside it, and how does it behave under the faults this sweep injected?", strings.Join(keyValues(s, "target"), ", "))
	} else {
		d.p("How do the spill threshold, granularity, compression and reclaim policy trade throughput against disk traffic and memory for each workload, how close does the engine come to the limits measured beside it, and how does it behave under the faults this sweep injected?")
	}

	d.h(2, "Setup")
	rows := [][]string{}
	for _, dir := range s.Dirs {
		e := dir.Env
		state := "complete"
		switch {
		case dir.Writer != 0:
			state = "RUNNING"
		case !e.Complete:
			state = "INCOMPLETE"
		}
		rows = append(rows, []string{filepath.Base(dir.Path), e.Host, e.Kernel, e.CPU, fmt.Sprint(e.NumCPU), e.SpillFS, e.GoVersion, short(e.Commit), e.Shard, state})
	}
	d.t([]string{"result dir", "host", "kernel", "CPU", "cores", "spill fs", "Go", "commit", "shard", "state"}, rows)
	if opt.Command != "" {
		d.p("This report: `%s`.", opt.Command)
	}
	d.p("Reproduce: %s.", reproduce(s))
	if externalOnly(s) {
		d.p("Measurement: each repetition runs the target once, in a process group of its own; %s repetitions per cell; CPU time is the target's and its children's (rusage), peak RSS their largest VmHWM, spill bytes what inotify saw in the spill directory.", countRange(env.MinCount, env.MaxCount))
	} else if env.Benchtime != "" {
		d.p("Measurement: each repetition of a timed cell runs the engine back to back for %s; %s repetitions per cell (more while its 95%% interval is wider than ±%s); GOGC %s; CPU profiles at %d Hz over every recorded repetition; %.0f%% of the sweep's time outside measured runs.",
			env.Benchtime, countRange(env.MinCount, env.MaxCount), formatPercent(env.CI), gogcText(env.GOGC), env.ProfileHz, 100*env.Overhead)
	}
	if env.Planted != "" {
		d.p("**This run had a slowdown planted on purpose (`%s`): it tests the tools, not the code.**", env.Planted)
	}

	workloads := keyValues(s, "workload")
	d.h(2, "Results")
	for _, w := range workloads {
		if err := workloadSection(d, s, w); err != nil {
			return nil, err
		}
	}
	if err := efficiencySection(d, s, workloads); err != nil {
		return nil, err
	}
	if err := profileSection(d, s); err != nil {
		return nil, err
	}
	granularitySection(d, s)
	if err := faultSection(d, s); err != nil {
		return nil, err
	}
	findingsSection(d, s, workloads)
	limitationsSection(d, s)
	return d, nil
}

func short(commit string) string { return commit[:min(12, len(commit))] }

func countRange(lo, hi int) string {
	if hi > lo {
		return fmt.Sprintf("%d to %d", lo, hi)
	}
	return fmt.Sprint(lo)
}

func gogcText(n int) string {
	switch n {
	case 0:
		return "unrecorded"
	case -1:
		return "off"
	}
	return fmt.Sprint(n)
}
