package reports

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"golang.org/x/perf/benchmath"
	"golang.org/x/perf/benchproc"
)

// keyValues lists the values of a cell key across the results, in order
// of first appearance.
func keyValues(s *Set, key string) []string {
	var vs []string
	for _, r := range s.Results() {
		for _, kv := range nameKeys(string(r.Name.Full())) {
			if kv[0] == key && !slices.Contains(vs, kv[1]) {
				vs = append(vs, kv[1])
			}
		}
	}
	return vs
}

func nameKeys(name string) [][2]string {
	var kvs [][2]string
	for _, part := range strings.Split(name, "/")[1:] {
		if k, v, ok := strings.Cut(part, "="); ok {
			kvs = append(kvs, [2]string{k, v})
		}
	}
	return kvs
}

func workloadSection(d *doc, s *Set, w string) error {
	d.h(3, "Workload %s", w)
	type metric struct {
		unit, name, title, ylabel string
		budget                    bool
	}
	for _, m := range []metric{
		{"items/s", "throughput", "Throughput vs threshold", "items/s", false},
		{"input-B/s", "throughput", "Throughput vs threshold", "input bytes/s", false}, // an external target's
		{"peak-spill-B", "peak-spill", "Peak bytes in the spill directory vs threshold", "bytes", false},
		{"spill-bytes/op", "spill-bytes", "Bytes spilled per run vs threshold", "bytes written per run", false},
		{"reloads/op", "reloads", "Reload events per run vs threshold", "records reloaded per run", false},
		{"activations/op", "activations", "Spill activations per run vs threshold", "evictions that wrote, per run", false},
		{"peak-buffered-B", "peak-buffered", "Peak buffered bytes vs threshold", "bytes buffered", true},
		{"peak-heap-B", "peak-heap", "Peak Go heap vs threshold", "bytes", true},
		{"peak-rss-B", "peak-rss", "Peak RSS vs threshold", "bytes", true},
		// The reorder window's diagnostics: how many results piled up
		// behind a straggler, and for how long.
		{"peak-items", "peak-items", "Peak results held vs threshold", "results held, in memory and on disk", false},
		{"stall-sec/op", "stall", "Stall time per run vs threshold", "seconds holding results with none due", false},
	} {
		p, err := MetricVsThreshold(s, w, m.unit, fmt.Sprintf("%s: %s", w, m.title), m.ylabel, m.budget)
		if err != nil {
			continue // a workload with no engine results at every threshold: nothing to plot
		}
		if err := d.fig(fmt.Sprintf("%s-%s", w, m.name), fmt.Sprintf("%s, workload %s: median with 95%% interval per strategy.", m.title, w), p); err != nil {
			return err
		}
	}
	unit := throughputUnit(s)
	t, err := Summarize(s, Query{Filter: fmt.Sprintf("%s /workload:%s /fault:none", targetCells, w), Row: "/threshold", Col: strategy, Unit: unit})
	if err != nil {
		return err
	}
	if len(t.Rows) == 0 {
		d.p("No engine results without faults for this workload.")
		return nil
	}
	header := []string{"threshold"}
	for _, l := range strategyLabels(t.Cols) {
		header = append(header, l+" "+unit)
	}
	var rows [][]string
	for i, r := range t.Rows {
		row := []string{r.StringValues()}
		for _, c := range t.Cells[i] {
			row = append(row, cellText(c, unit))
		}
		rows = append(rows, row)
	}
	d.t(header, rows)
	return nil
}

// cellText is a cell's median, the interval's half width, the runs, and
// the smallest change a comparison with another run like it would see.
func cellText(c *Cell, unit string) string {
	if c == nil {
		return "-"
	}
	vs := c.Sample.Values
	return fmt.Sprintf("%s ±%s (n=%d, sees %s)", formatValue(c.Summary.Center, unit), c.Summary.PctRangeString(), len(vs),
		FormatChange(MinDetectable(vs, vs, DefaultAlpha, DefaultPower)))
}

// median is benchmath's center of xs, the median benchstat prints (the
// mean of the middle two of an even count); NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	smp := benchmath.NewSample(slices.Clone(xs), &benchmath.DefaultThresholds)
	return benchmath.AssumeNothing.Summary(smp, 0.95).Center
}

// sample pools every value of unit in the results filter keeps.
func sample(s *Set, filter, unit string) *Cell {
	f, err := benchproc.NewFilter(filter)
	if err != nil {
		return nil
	}
	var vs []float64
	for _, r := range s.Results() {
		if v, ok := value(f, r, unit); ok {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return nil
	}
	smp := benchmath.NewSample(vs, &benchmath.DefaultThresholds)
	return &Cell{Sample: smp, Summary: benchmath.AssumeNothing.Summary(smp, 0.95)}
}

// ratioText is the ratio of a's and b's medians ± the wider side of the
// interval the ratios of their interval bounds give, in percent as
// benchstat writes an interval: "0.960 ±10%".
func ratioText(a, b *Cell) string {
	if b.Summary.Center == 0 || b.Summary.Lo <= 0 || b.Summary.Hi <= 0 {
		return "-"
	}
	r := benchmath.Summary{Center: a.Summary.Center / b.Summary.Center, Lo: a.Summary.Lo / b.Summary.Hi, Hi: a.Summary.Hi / b.Summary.Lo}
	return fmt.Sprintf("%.3f ±%s", r.Center, r.PctRangeString())
}
