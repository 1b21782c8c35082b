package reports

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/stat"
)

// TuningDoc writes the threshold-tuning design document of a sweep (the
// tuning spec; default for a quicker look) into out: threshold-tuning.md
// and its figures in threshold-tuning/. Every figure in it comes from a
// table or plot of the sweep.
func TuningDoc(s *Set, out, command string) error {
	d := &doc{}
	env := s.Dirs[0].Env
	d.h(1, "Threshold tuning")
	d.p("Which spill threshold, granularity, compression and reclaim policy should the buffer use? Measured with the `%s` sweep: %d cells, %d recorded runs, on the host described at the end.", env.Spec, env.Cells, env.Recorded)

	workloads := keyValues(s, "workload")
	resolutionSection(d, s, workloads)
	if err := tuningPlots(d, s, workloads); err != nil {
		return err
	}
	thresholds := sortedThresholds(s)
	knees, err := kneeSection(d, s, workloads, thresholds)
	if err != nil {
		return err
	}
	effects := knobEffects(s, workloads)
	effectSection(d, effects)
	threshold := recommendationSection(d, s, workloads, knees, effects)
	if err := timeSection(d, s, thresholds, threshold); err != nil {
		return err
	}

	d.h(2, "How this was made")
	d.p("`%s` on %s (kernel %s, %s, %d cores, spill directory on %s, Go %s), commit `%s`, %s.", command, env.Host, env.Kernel, env.CPU, env.NumCPU, env.SpillFS, env.GoVersion, short(env.Commit), env.Start.UTC().Format("2006-01-02"))

	return d.writeDesign(out, "threshold-tuning")
}

// tuningMetrics are the plots of each workload, against the threshold.
var tuningMetrics = []struct {
	unit, name, title, ylabel string
	budget                    bool
}{
	{"items/s", "throughput", "Throughput vs threshold", "items/s", false},
	{"spill-bytes/op", "spill-bytes", "Bytes spilled per run vs threshold", "bytes written per run", false},
	{"reloads/op", "reloads", "Reloads per run vs threshold", "records reloaded per run", false},
	{"peak-buffered-B", "peak-buffered", "Peak buffered bytes vs threshold", "bytes buffered", true},
}

// tuningPlots writes the Results per workload section: every metric
// of tuningMetrics against the threshold, a plot each, for each
// workload; a metric that cannot be plotted is left out.
func tuningPlots(d *doc, s *Set, workloads []string) error {
	d.h(2, "Results per workload")
	// A legend holds a dozen strategies, not three dozen: with several
	// worker counts the plots show the middle one; the tables below cover
	// them all.
	where, per := "", ""
	if workers := keyValues(s, "workers"); len(workers) > 1 {
		slices.SortFunc(workers, func(a, b string) int { return cmpNumeric(a, b) })
		mid := workers[len(workers)/2]
		where, per = "/workers:"+mid, fmt.Sprintf(", %s workers", mid)
		d.p("The plots show the runs with %s workers, to keep a legend readable; the sweep ran %s workers, and the knee table and the recommendations include every count.", mid, strings.Join(workers, ", "))
	}
	for _, w := range workloads {
		d.h(3, "%s", w)
		for _, m := range tuningMetrics {
			p, err := MetricVsThresholdWhere(s, w, where, m.unit, fmt.Sprintf("%s: %s", w, m.title), m.ylabel, m.budget)
			if err != nil {
				continue
			}
			if err := d.fig(w+"-"+m.name, fmt.Sprintf("%s, workload %s: median and 95%% interval per strategy%s.", m.title, w, per), p); err != nil {
				return err
			}
		}
	}
	return nil
}

// sortedThresholds are the thresholds the sweep measured, smallest first.
func sortedThresholds(s *Set) []string {
	thresholds := keyValues(s, "threshold")
	slices.SortFunc(thresholds, func(a, b string) int {
		x, _ := parseSize(a)
		y, _ := parseSize(b)
		return cmp.Compare(x, y)
	})
	return thresholds
}

// kneeSection writes The knee section: the knee of every strategy of
// every workload, as a figure and a table. thresholds, in order, are the
// figure's axis. It returns the knees.
func kneeSection(d *doc, s *Set, workloads, thresholds []string) ([]knee, error) {
	d.h(2, "The knee")
	d.p("The knee of a strategy is the smallest threshold whose throughput is not significantly below that of its best threshold (Mann-Whitney U, alpha 0.05) or whose median is within 5%% of it. Below the knee the buffer spills enough to cost throughput; above it memory buys nothing measurable. A workload's knee is the median of its strategies' knees: one strategy's noise does not move it.")
	knees := strategyKnees(s, workloads)
	var rows [][]string
	for _, k := range knees {
		rows = append(rows, []string{k.workload, k.strategy, formatBytes(k.at), formatBytes(k.bestAt), formatValue(k.best, "items/s")})
	}
	var measured []float64
	for _, t := range thresholds {
		if x, ok := parseSize(t); ok {
			measured = append(measured, x)
		}
	}
	if chart := kneeChartOf(knees, measured); len(chart.strategies) > 0 {
		p, height, err := KneePlot(chart, "The knee of every strategy, per workload")
		if err != nil {
			return nil, err
		}
		if err := d.figSize("knees", "The knee threshold of every strategy (a row each, named as in the table below: granularity, compression, reclaim and worker count, where they vary), a panel per workload; the solid line in a panel is the workload's knee, the median of its strategies' knees, and the dashed line the recommended default, the largest workload knee.", p, KneeWidth, height); err != nil {
			return nil, err
		}
	}
	d.t([]string{"workload", "strategy", "knee", "best threshold", "best median items/s"}, rows)
	return knees, nil
}

// tuningKnobs are the knobs the Recommended defaults weigh, each against
// its simplest setting.
var tuningKnobs = []struct{ key, base, name string }{
	{"gran", "batch", "granularity"},
	{"comp", "none", "compression"},
	{"reclaim", "keep", "reclaim"},
}

// recommendationSection writes the Recommended defaults section by its
// stated rules: a threshold per workload, the default threshold, and a
// setting for each of tuningKnobs. It returns the default threshold in
// bytes.
func recommendationSection(d *doc, s *Set, workloads []string, knees []knee, effects []knobEffect) float64 {
	d.h(2, "Recommended defaults")
	d.p("Rules: (1) the default threshold is the largest workload knee, so no workload pays measurably for spilling; (2) a knob's alternative is recommended when its effect (Knob effects, real after Holm-Bonferroni) is faster by more than 5%% in more workloads than it is slower by more than 5%%; or when it is really slower in no workload and cuts disk bytes or peak buffered memory by at least 20%% (geometric mean over cells); otherwise the simpler setting stays. The evidence column also gives the cell-by-cell comparisons (Mann-Whitney U, Holm-Bonferroni over every cell compared), which can see only large changes, and the differences significant only before that correction, which this run cannot tell from noise.")
	var recs [][]string
	threshold := 0.0
	for _, w := range workloads {
		at, ats := workloadKnee(knees, w)
		if len(ats) == 0 {
			continue
		}
		threshold = math.Max(threshold, at)
		recs = append(recs, []string{"threshold for " + w, formatBytes(at), fmt.Sprintf("median knee of its %d strategies (from %s to %s)", len(ats), formatBytes(ats[0]), formatBytes(ats[len(ats)-1]))})
	}
	recs = append(recs, []string{"threshold (default)", formatBytes(threshold), "largest of the knees above"})
	for _, knob := range tuningKnobs {
		recs = append(recs, knobRecommendation(s, effects, knob.key, knob.base, knob.name))
	}
	d.t([]string{"setting", "recommendation", "evidence"}, recs)
	return threshold
}

// timeSection writes the Where the time goes section: the CPU profiles
// of the cells at the tightest threshold and at the recommended one
// (threshold, in bytes), merged and attributed by category, as a figure
// and a table. Without thresholds or profiles it has only its heading.
func timeSection(d *doc, s *Set, thresholds []string, threshold float64) error {
	d.h(2, "Where the time goes")
	if len(thresholds) == 0 {
		return nil
	}
	var as []Attribution
	var arows [][]string
	for _, t := range []string{thresholds[0], formatBytes(threshold)} {
		paths := cpuProfilesAt(s, t)
		if len(paths) == 0 {
			continue
		}
		p, err := MergeProfiles(paths)
		if err != nil {
			return err
		}
		a := Attribute("threshold "+t, p)
		as = append(as, a)
		arows = append(arows, []string{fmt.Sprintf("#%d", len(as)), "threshold " + t, fmt.Sprint(len(paths)), categoryShares(a)})
	}
	if len(as) == 0 {
		return nil
	}
	p, err := CategoryBars(as, "CPU by category: tightest threshold and the recommended one")
	if err != nil {
		return err
	}
	if err := d.fig("categories", "CPU samples of every profiled cell at the tightest threshold (#1) and at the recommended one (#2), by category.", p); err != nil {
		return err
	}
	d.t([]string{"#", "cells", "profiles merged", "CPU by category"}, arows)
	return nil
}

// cpuProfilesAt are the CPU profiles of the cells without faults at
// threshold t (as the cell names write it).
func cpuProfilesAt(s *Set, t string) []string {
	var paths []string
	for _, dir := range s.Dirs {
		for _, p := range dir.Profiles {
			if strings.Contains(p, "_threshold="+t+"_") && strings.HasSuffix(p, ".cpu.pb.gz") && strings.Contains(p, "fault=none") {
				paths = append(paths, p)
			}
		}
	}
	return paths
}

// categoryShares writes the share of a's CPU samples in each category
// that has any, in category order, other last: "compression 9%, GC 3%".
func categoryShares(a Attribution) string {
	var cats []string
	for _, c := range append(categoryNames(), "other") {
		if v := a.Categories[c]; v > 0 {
			cats = append(cats, fmt.Sprintf("%s %.0f%%", c, 100*float64(v)/float64(max(a.Total, 1))))
		}
	}
	return strings.Join(cats, ", ")
}

// knee is the knee of one strategy in one workload: the smallest
// threshold whose throughput is not significantly below that of its best
// threshold, or whose median is within 5% of it.
type knee struct {
	workload, strategy string
	at, bestAt, best   float64 // thresholds in bytes; best median items/s
}

// strategyKnees finds the knee of every strategy of every workload, in
// the order of the knee table.
func strategyKnees(s *Set, workloads []string) []knee {
	var knees []knee
	for _, w := range workloads {
		ss, err := thresholdSeries(s, w, "", throughputUnit(s))
		if err != nil {
			continue
		}
		for _, sr := range ss {
			xs := slices.Sorted(mapKeys(sr.points))
			bestX := xs[0]
			for _, x := range xs {
				if sr.points[x].Summary.Center > sr.points[bestX].Summary.Center {
					bestX = x
				}
			}
			best := sr.points[bestX]
			at := bestX
			for _, x := range xs {
				c := compareCells("", sr.points[x], best, true, DefaultAlpha)
				if c.P >= DefaultAlpha || sr.points[x].Summary.Center >= 0.95*best.Summary.Center {
					at = x
					break
				}
			}
			knees = append(knees, knee{w, sr.name, at, bestX, best.Summary.Center})
		}
	}
	return knees
}

// workloadKnee is a workload's knee, the median of its strategies' knees
// (the upper one of an even count), and those knees in order.
func workloadKnee(knees []knee, workload string) (float64, []float64) {
	var ats []float64
	for _, k := range knees {
		if k.workload == workload {
			ats = append(ats, k.at)
		}
	}
	if len(ats) == 0 {
		return 0, nil
	}
	slices.Sort(ats)
	return ats[len(ats)/2], ats
}

// resolutionSection says how small a difference the sweep could see in
// each workload: the minimum detectable change of its cells' throughput,
// between two runs like each cell, at alpha 0.05 and at the Holm level
// of a comparison over all the workload's cells.
func resolutionSection(d *doc, s *Set, workloads []string) {
	var rows [][]string
	for _, w := range workloads {
		t, err := Summarize(s, Query{Filter: fmt.Sprintf(".name:Engine /fault:none /workload:%q", w), Unit: "items/s"})
		if err != nil || len(t.Rows) == 0 {
			continue
		}
		var one, all []float64
		n := map[int]bool{}
		for i := range t.Rows {
			c := t.Cells[i][0]
			if c == nil {
				continue
			}
			vs := c.Sample.Values
			n[len(vs)] = true
			one = append(one, MinDetectable(vs, vs, DefaultAlpha, DefaultPower))
			all = append(all, MinDetectable(vs, vs, DefaultAlpha/float64(len(t.Rows)), DefaultPower))
		}
		slices.Sort(one)
		slices.Sort(all)
		runs := slices.Sorted(mapKeys(n))
		rows = append(rows, []string{w, fmt.Sprint(len(one)), fmt.Sprintf("%d to %d", runs[0], runs[len(runs)-1]),
			FormatChange(one[len(one)/2]), FormatChange(one[len(one)-1]), FormatChange(all[len(all)/2])})
	}
	if len(rows) == 0 {
		return
	}
	d.h(2, "Resolution")
	d.p("How small a difference in throughput this sweep could see, per workload: the minimum detectable change (80%% power) of a cell compared with another cell measured like it, at alpha 0.05 for one comparison and at the Holm-Bonferroni level of a comparison among all the workload's cells. A difference below these is not evidence of no difference. A knob's effect is another matter: the Knob effects section weighs a knob's values across all of a workload's configurations at once, and sees effects of a few percent that no single cell can.")
	d.t([]string{"workload", "cells", "runs per cell", "one comparison, typical cell", "one comparison, least certain cell", "among all cells, typical"}, rows)
}

// geomean is gonum's geometric mean of xs, 0 for none. The ratios it
// takes are positive (columnRatios skips a row with a zero side).
func geomean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return stat.GeometricMean(xs, nil)
}

// cmpNumeric orders numeric key values as numbers and others as strings.
func cmpNumeric(a, b string) int {
	x, errA := strconv.ParseFloat(a, 64)
	y, errB := strconv.ParseFloat(b, 64)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	return cmp.Compare(x, y)
}
