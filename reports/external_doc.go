package reports

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// ExternalDoc writes external-targets.md (and its figures in
// external-targets/) into out: an external target's threshold sweep and
// fault matrix from its result directory ext, beside the engine's
// outcomes for the same faults from engine (the result directory of
// spillbench inject; nil leaves that column out). Every figure comes
// from those runs.
func ExternalDoc(ext, engine *Set, out, command string) error {
	targets := keyValues(ext, "target")
	if !externalOnly(ext) || len(targets) == 0 {
		return fmt.Errorf("%s holds no external target's results; give the result directory of a spec with a target", ext.Dirs[0].Path)
	}
	target := strings.Join(targets, ", ")
	env := ext.Dirs[0].Env
	d := &doc{}
	d.h(1, "External targets: %s under spillbench's sweeps and faults", target)
	d.p("spillbench sweeps and faults its own engine; an external target is any other program that spills to disk, run unmodified from a command template. This document is one such run: `%s` as the `%s` spec gives it, %d cells, %d recorded runs, on the host described at the end. Every number and figure below comes from that run%s.",
		commandOf(ext), env.Spec, env.Cells, env.Recorded, engineClause(engine))

	d.h(2, "How a target runs")
	d.list([]string{
		"Each repetition runs the command once with `sh -c`, its placeholders filled for the cell: `{spill_dir}` (on the fault's mount where the cell has one), `{threshold}` in bytes, `{input}`, `{output}` and `{scratch}`.",
		"The run has a process group of its own and a time limit. At the limit, on Ctrl-C or at teardown the whole group is killed with SIGKILL and waited for to its last process before the fault is released, so nothing of the target holds a mount spillbench unmounts; `spillbench cleanup` ends a group a killed sweep left.",
		"inotify follows the spill directory: the bytes held at the peak and the bytes written (each file's largest size), and it tells the vanish mechanism when the target writes and reads, the moments vanish picks on the engine's seam. CPU time is the target's rusage, peak RSS the largest VmHWM of its processes.",
		"The output's SHA-256 is compared with that of a fault-free reference run at the largest threshold: verified, corrupt or missing. Exit 0 with an output that is not verified is data lost; an exit code the spec lists as clean is a clean error; any other code or a signal is a crash.",
		"The kernel mechanisms (tmpfs, fallocate, FUSE, vanish) reach the target as they reach the engine. mock and failpoint act inside the engine's spill.FS seam, which another program never calls; their cells are recorded as not applicable, with that reason.",
	})

	if err := externalSweepSection(d, ext); err != nil {
		return err
	}
	if err := externalFaultSection(d, ext, engine, target); err != nil {
		return err
	}
	d.h(2, "Spill I/O against RawFS")
	if err := externalEfficiency(d, ext); err != nil {
		return err
	}
	d.h(2, "How this was made")
	d.p("`%s` on %s (kernel %s, %s, %d cores, temp dir on %s, Go %s), commit `%s`, %s; the sweep took %.0f s.", command, env.Host, env.Kernel, env.CPU, env.NumCPU, env.SpillFS, env.GoVersion, short(env.Commit), env.Start.UTC().Format("2006-01-02"), env.TotalSeconds)
	return d.writeDesign(out, "external-targets")
}

// commandOf is the target's command template, from the first outcome
// that ran it, with the run's paths put back as placeholders.
func commandOf(s *Set) string {
	for _, o := range s.Outcomes() {
		if o.External != nil && o.External.Template != "" {
			return o.External.Template
		}
	}
	return "?"
}

func engineClause(engine *Set) string {
	if engine == nil {
		return ""
	}
	e := engine.Dirs[0].Env
	return fmt.Sprintf(", and the engine's column from the `%s` run beside it (%d recorded runs, commit `%s`, %s)", e.Spec, e.Recorded, short(e.Commit), e.Start.UTC().Format("2006-01-02"))
}

// externalSweepSection is the threshold sweep without faults: plots
// against the threshold and a table of medians.
func externalSweepSection(d *doc, s *Set) error {
	d.h(2, "Threshold sweep")
	for _, w := range keyValues(s, "workload") {
		for _, m := range []struct {
			unit, name, title, ylabel string
			budget                    bool
		}{
			{"sec/op", "wall", "Wall time vs threshold", "seconds per run", false},
			{"spill-bytes/op", "spill-bytes", "Bytes written to the spill directory vs threshold", "bytes per run", false},
			{"peak-rss-B", "peak-rss", "Peak RSS vs threshold", "bytes", true},
		} {
			p, err := MetricVsThreshold(s, w, m.unit, fmt.Sprintf("%s: %s", w, m.title), m.ylabel, m.budget)
			if err != nil {
				continue
			}
			if err := d.fig(fmt.Sprintf("%s-%s", w, m.name), fmt.Sprintf("%s, input %s: median with 95%% interval over the repetitions.", m.title, w), p); err != nil {
				return err
			}
		}
		var rows [][]string
		for _, t := range sortedThresholdKeys(s, w) {
			f := fmt.Sprintf(".name:External /workload:%q /threshold:%q /fault:none", w, t)
			row := []string{t}
			for _, unit := range []string{"sec/op", "cpu-sec/op", "spill-bytes/op", "peak-spill-B", "peak-rss-B"} {
				c := sample(s, f, unit)
				if c == nil {
					row = append(row, "-")
					continue
				}
				if strings.HasSuffix(unit, "sec/op") {
					row = append(row, fmt.Sprintf("%s ±%s (n=%d)", formatValue(c.Summary.Center, "sec/op"), c.Summary.PctRangeString(), len(c.Sample.Values)))
				} else {
					row = append(row, fmt.Sprintf("%s (n=%d)", formatValue(c.Summary.Center, unit), len(c.Sample.Values)))
				}
			}
			files, others := medianOutcome(s, w, t)
			if !math.IsNaN(files) {
				row = append(row, fmt.Sprint(files), fmt.Sprintf("%.0f%%", others))
			} else {
				row = append(row, "-", "-")
			}
			rows = append(rows, row)
		}
		d.p("Input %s, no fault: medians over the repetitions; times ± the 95%% interval's half width as benchstat prints it (∞ below 6 runs). The last column is the share of the host's CPU that processes other than the target and spillbench used during its runs: on a host shared with other work, what the wall time's spread comes from.", w)
		d.t([]string{"threshold", "wall time", "CPU time", "written to the spill dir", "peak in the spill dir", "peak RSS", "spill files (median)", "other processes' CPU (median)"}, rows)
		n := 0
		for _, o := range s.Outcomes() {
			if o.External != nil && o.Keys["workload"] == w && o.Keys["fault"] == "none" && (n == 0 || countOf(s, o.Cell) < n) {
				n = countOf(s, o.Cell)
			}
		}
		if MinPValue(n, n) >= DefaultAlpha {
			d.p("With %d runs a threshold, no test can tell two thresholds apart at alpha 0.05 (%d are needed): no knee is drawn.", n, RunsNeeded(DefaultAlpha))
			continue
		}
		for _, k := range strategyKnees(s, []string{w}) {
			d.p("Knee (the smallest threshold whose throughput is not significantly below the best, or within 5%% of it): %s, against the best at %s.", formatBytes(k.at), formatBytes(k.bestAt))
		}
	}
	return nil
}

// sortedThresholdKeys are the thresholds of a workload's fault-free
// external cells, smallest first, as their names write them.
func sortedThresholdKeys(s *Set, w string) []string {
	var ts []string
	for _, r := range s.Results() {
		name := string(r.Name.Full())
		keys := nameKeys(name)
		if strings.HasPrefix(name, "External/") && slices.Contains(keys, [2]string{"workload", w}) && slices.Contains(keys, [2]string{"fault", "none"}) {
			for _, kv := range keys {
				if kv[0] == "threshold" {
					ts = addUnique(ts, kv[1])
				}
			}
		}
	}
	slices.SortFunc(ts, func(a, b string) int {
		x, _ := parseSize(a)
		y, _ := parseSize(b)
		return int(x - y)
	})
	return ts
}

// medianOutcome is the median number of files a workload's fault-free
// runs at threshold t created in their spill directory, and the median
// share of the host's CPU other processes took meanwhile, in percent.
func medianOutcome(s *Set, w, t string) (files, others float64) {
	var n, o []float64
	for _, out := range s.Outcomes() {
		if out.External != nil && out.Status == "ok" && out.Keys["workload"] == w && out.Keys["threshold"] == t && out.Keys["fault"] == "none" {
			n = append(n, float64(out.External.SpillFiles))
			o = append(o, out.External.OthersPct)
		}
	}
	return median(n), median(o)
}

// externalFaultSection is the fault matrix of the target and, beside
// each fault, what the same fault did to the engine.
func externalFaultSection(d *doc, ext, engine *Set, target string) error {
	d.h(2, "Faults: %s next to the engine", target)
	var faults []Outcome
	for _, o := range ext.Outcomes() {
		if f := o.Keys["fault"]; f != "" && f != "none" && !strings.HasSuffix(f, ":quiet") {
			faults = append(faults, o)
		}
	}
	if len(faults) == 0 {
		d.p("This run injected no fault.")
		return nil
	}
	p, width, err := FaultMatrix(faults, fmt.Sprintf("%s: outcome by mechanism and mode", target))
	if err != nil {
		return err
	}
	if err := d.figWidth("fault-matrix", fmt.Sprintf("Outcome of each fault for %s, by majority over its repetitions.", target), p, width); err != nil {
		return err
	}
	rows := faultRows(faults)
	var engRows map[string]*faultRow
	if engine != nil {
		engRows = faultRows(engine.Outcomes())
	}
	var table [][]string
	same, compared := 0, 0
	var differ []string
	for _, f := range slices.Sorted(mapKeys(rows)) {
		r := rows[f]
		msg := r.message
		if r.reason != "" {
			msg = r.reason
		}
		row := []string{"`" + f + "`", r.classText(), intsText(r.exits), r.errnoText(), r.verdictText(), orDash(inlineCodeText(msg))}
		if engRows != nil {
			e := engRows[f]
			if e == nil {
				row = append(row, "not run", "-")
			} else {
				row = append(row, e.classText(), fmt.Sprintf("%s; exit %s", orDash(strings.Join(e.types, ", ")), intsText(e.exits)))
				if r.reason == "" && e.reason == "" {
					compared++
					if r.majority() == e.majority() {
						same++
					} else {
						differ = append(differ, fmt.Sprintf("`%s` (%s: %s; engine: %s)", f, target, r.majority(), e.majority()))
					}
				}
			}
		}
		table = append(table, row)
	}
	header := []string{"fault", target, "exit codes", "errno", "output", "last stderr line (or why not run)"}
	if engRows != nil {
		header = append(header, "engine", "engine's typed error; exit")
	}
	d.t(header, table)
	d.p("The errno column is the one the injector recorded and, after an arrow, the one %s's stderr named where that differs. Output: verified is the reference output; corrupt a wrong output from a run that exited 0; partial a wrong file left by a run that failed (which promised nothing); missing no output file.", target)
	counts := map[string]int{}
	for _, r := range rows {
		counts[r.majority()]++
	}
	var parts []string
	for _, c := range outcomeClasses {
		if counts[c.name] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", c.name, counts[c.name]))
		}
	}
	d.p("Of the %d faults, by majority outcome for %s: %s.", len(rows), target, strings.Join(parts, ", "))
	if engRows != nil {
		d.p("Both ran %d of these faults; the majority outcome is the same for %d. Where they differ: %s.", compared, same, orDash(strings.Join(differ, ", ")))
	}
	return nil
}

// countOf is how many recorded runs a cell has.
func countOf(s *Set, cell string) int {
	n := 0
	for _, o := range s.Outcomes() {
		if o.Cell == cell && o.Rep >= 0 {
			n++
		}
	}
	return n
}
