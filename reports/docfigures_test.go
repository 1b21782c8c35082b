package reports

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
)

// survivalRuns are hand-made survival runs: every class in some sweep,
// and no silent run but in the truncation sweep.
func survivalRuns() []SurvivalRun {
	var runs []SurvivalRun
	add := func(n int, r SurvivalRun) {
		for range n {
			runs = append(runs, r)
		}
	}
	// Transient: 5 reported (2 of them still delivered everything), 2
	// recovered by the buffer, 1 clean control run.
	add(3, SurvivalRun{Sweep: "operation", Reached: "caller", ErrorType: "IOError"})
	add(2, SurvivalRun{Sweep: "operation", Reached: "caller", ErrorType: "IOError", Recovered: true})
	add(2, SurvivalRun{Sweep: "operation", Reached: "recovered", Recovered: true})
	add(1, SurvivalRun{Sweep: "operation", Recovered: true})
	// Persistent: 4 reported, 1 clean.
	add(4, SurvivalRun{Sweep: "operation", Persistent: true, Reached: "caller", ErrorType: "IOError"})
	add(1, SurvivalRun{Sweep: "operation", Persistent: true, Recovered: true})
	// Byte cuts: all 7 reported and delivered.
	add(7, SurvivalRun{Sweep: "byte", Reached: "caller", ErrorType: "IOError", Recovered: true})
	// Corruption: bit flips 1000 reported, 30 harmless; truncations 9
	// reported, 3 harmless, 2 silent.
	add(1000, SurvivalRun{Sweep: "corruption", Fault: "bit-flip", ErrorType: "CorruptRecord", Corrupt: 1})
	add(30, SurvivalRun{Sweep: "corruption", Fault: "bit-flip", Recovered: true})
	add(9, SurvivalRun{Sweep: "corruption", Fault: "truncate", ErrorType: "CorruptRecord", Lost: 1})
	add(3, SurvivalRun{Sweep: "corruption", Fault: "truncate", Recovered: true})
	add(2, SurvivalRun{Sweep: "corruption", Fault: "truncate", Lost: 1, Silent: true})
	// Listed out of order: the figure keeps the document's order.
	return append(runs[len(runs)-14:], runs[:len(runs)-14]...)
}

func TestSurvivalSweepsCountEveryRunOnce(t *testing.T) {
	got := survivalSweeps(survivalRuns())
	want := []survivalSweep{
		{"each operation failed once", [3]int{5, 3, 0}},
		{"each operation failed for good", [3]int{4, 1, 0}},
		{"each byte of a record write cut", [3]int{7, 0, 0}},
		{"each bit of a spill file flipped", [3]int{1000, 30, 0}},
		{"each length of a spill file cut", [3]int{9, 3, 2}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("survivalSweeps:\n got %v\nwant %v", got, want)
	}
	// Wrong data without an error is silent even where the runner did
	// not flag it.
	if c := survivalClass(SurvivalRun{Sweep: "operation", Lost: 3}); c != 2 {
		t.Fatalf("lost items, no error, not flagged silent: class %d, want 2 (silent)", c)
	}
}

// The figure says what the counts say: each bar's label is its count and
// class, a zero too, which has no bar; and the axis reaches past the
// longest bar, with room for its label.
func TestSurvivalPlotLabelsEveryCountAndZero(t *testing.T) {
	sweeps := survivalSweeps(survivalRuns())
	p, err := SurvivalPlot(sweeps, "survival")
	if err != nil {
		t.Fatal(err)
	}
	svg, err := Render(p, "svg")
	if err != nil {
		t.Fatal(err)
	}
	for _, label := range []string{">5 reported<", ">3 harmless<", ">0 silent<", ">0 harmless<", ">1,000 reported<", ">2 silent<",
		">each bit of a spill file flipped<", ">1,030 runs<"} {
		if !bytes.Contains(svg, []byte(label)) {
			t.Errorf("the SVG lacks the label %s", label)
		}
	}
	if n := bytes.Count(svg, []byte(">0 silent<")); n != 4 {
		t.Errorf("%d labels read 0 silent, want 4: every sweep but the truncations", n)
	}
	if p.X.Min >= 1 || p.X.Max < 1000*4 {
		t.Errorf("x axis %g..%g: want a bar for 1 run and room past 1,000 for its label", p.X.Min, p.X.Max)
	}
	checkPNG(t, "plot-survival.png", p, PlotWidth, PlotHeight)

	if _, err := SurvivalPlot(nil, "none"); err == nil {
		t.Error("no sweeps: no error")
	}
}

// The document written with WriteSurvivalDoc links its figure, and the
// figure is there; SurvivalDoc alone, one file, links none.
func TestSurvivalDocEmbedsItsFigure(t *testing.T) {
	out := t.TempDir()
	if err := WriteSurvivalDoc(survivalRuns(), Env{Host: "h", Commit: "0123456789abcdef"}, out, "spillbench report --doc survival X"); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "fault-survival.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(md, []byte("](fault-survival/outcomes.svg)")) {
		t.Error("fault-survival.md does not link fault-survival/outcomes.svg")
	}
	if i, j := bytes.Index(md, []byte("outcomes.svg")), bytes.Index(md, []byte("## Method")); i < 0 || i > j {
		t.Error("the figure is not in the summary, before the method")
	}
	if svg, err := os.ReadFile(filepath.Join(out, "fault-survival", "outcomes.svg")); err != nil || !bytes.Contains(svg, []byte("<svg")) {
		t.Errorf("outcomes.svg: %v", err)
	}
	if single := SurvivalDoc(survivalRuns(), Env{}, "spillbench survive"); bytes.Contains(single, []byte("![")) {
		t.Error("SurvivalDoc links a figure it cannot write")
	}
}

// tuningSet is a hand-made tuning sweep: workloads w1 and w2, strategies
// batch and item, thresholds 4KiB, 64KiB and 1MiB, six runs a cell
// around the median throughput given.
func tuningSet(t *testing.T) *Set {
	t.Helper()
	medians := map[string][3]float64{ // workload/gran -> items/s at 4KiB, 64KiB, 1MiB
		// Twice as fast at 64KiB, no faster past it: the knee is 64KiB.
		"w1/batch": {100, 200, 201},
		// Flat: the knee is the smallest threshold.
		"w1/item": {300, 300, 300},
		// Fast only at 1MiB: the knee is 1MiB.
		"w2/batch": {100, 100, 300},
		// Best at 64KiB, but 4KiB is within 5% of it: the knee is 4KiB.
		"w2/item": {290, 300, 100},
	}
	var b strings.Builder
	b.WriteString("Unit items/s better=higher\n")
	for _, w := range []string{"w1", "w2"} {
		for _, g := range []string{"batch", "item"} {
			for i, th := range []string{"4KiB", "64KiB", "1MiB"} {
				for r := range 6 {
					fmt.Fprintf(&b, "BenchmarkEngine/workload=%s/threshold=%s/gran=%s/fault=none 1 1e6 ns/op %g items/s\n", w, th, g, medians[w+"/"+g][i]+0.1*float64(r-3))
				}
			}
		}
	}
	return resultSet(t, b.String())
}

// resultSet is a result directory of results, with the quick test
// data's env.json and no outcomes, loaded.
func resultSet(t *testing.T, results string) *Set {
	t.Helper()
	dir := t.TempDir()
	env, err := os.ReadFile("../testdata/quick/env.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"env.json": env, "results.txt": []byte(results), "outcomes.jsonl": nil} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The knee figure has one point per strategy per workload, at the
// threshold of its knee, and each workload's knee is the median of its
// strategies'.
func TestKneeChartHasEveryStrategysKnee(t *testing.T) {
	s := tuningSet(t)
	const k4, k64, m1 = 4 << 10, 64 << 10, 1 << 20
	got := kneeChartOf(strategyKnees(s, []string{"w1", "w2"}), []float64{m1, k4, k64})
	want := kneeChart{
		workloads:  []string{"w1", "w2"},
		strategies: []string{"batch", "item"},
		at:         [][]float64{{k64, k4}, {m1, k4}},
		knee:       []float64{k64, m1}, // of two, the upper median
		def:        m1,
		thresholds: []float64{k4, k64, m1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("kneeChartOf:\n got %+v\nwant %+v", got, want)
	}

	// A strategy measured in one workload only is a gap in the other.
	c := kneeChartOf([]knee{{workload: "a", strategy: "x", at: k4}, {workload: "b", strategy: "y", at: m1}}, nil)
	if !math.IsNaN(c.at[0][1]) || !math.IsNaN(c.at[1][0]) || c.at[0][0] != k4 || c.at[1][1] != m1 {
		t.Fatalf("a strategy missing from a workload: at %v, want NaN in its place", c.at)
	}

	p, height, err := KneePlot(got, "knees")
	if err != nil {
		t.Fatal(err)
	}
	if rows := vg.Length(p.Y.Max - p.Y.Min); height < rows*kneeRow {
		t.Fatalf("height %v gives %v rows less than kneeRow each", height, rows)
	}
	checkPNG(t, "plot-knees.png", p, KneeWidth, height)
	if _, _, err := KneePlot(kneeChart{}, "none"); err == nil {
		t.Error("no knees: no error")
	}
}

// The tuning document shows the knee figure beside the knee table.
func TestTuningDocShowsTheKnees(t *testing.T) {
	out := t.TempDir()
	if err := TuningDoc(tuningSet(t), out, "spillbench report --doc tuning X"); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "threshold-tuning.md"))
	if err != nil {
		t.Fatal(err)
	}
	fig, table := bytes.Index(md, []byte("](threshold-tuning/knees.svg)")), bytes.Index(md, []byte("| workload | strategy | knee |"))
	if fig < 0 || table < 0 || fig > table || fig < bytes.Index(md, []byte("## The knee")) {
		t.Fatalf("the knee figure is not just before the knee table (at %d and %d)", fig, table)
	}
	svg, err := os.ReadFile(filepath.Join(out, "threshold-tuning", "knees.svg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, label := range []string{">w1: knee 64KiB<", ">w2: knee 1MiB<", ">recommended default: 1MiB, the largest workload knee<"} {
		if !bytes.Contains(svg, []byte(label)) {
			t.Errorf("knees.svg lacks %s; its labels: %s", label, regexp.MustCompile(`>[^<>]*knee[^<>]*<`).FindAll(svg, -1))
		}
	}
}

func TestBandRowsShadeEveryOtherGroup(t *testing.T) {
	for _, tc := range []struct {
		labels []string
		want   [][2]int
	}{
		{[]string{"a 1", "a 2", "b 1", "b 2", "c 1", "d 1", "d 2"}, [][2]int{{2, 3}, {5, 6}}},
		{[]string{"batch", "item"}, nil}, // a row a group: no bands
		{nil, nil},
	} {
		if got := bandRows(tc.labels); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("bandRows(%q) = %v, want %v", tc.labels, got, tc.want)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 88732: "88,732", 1234567: "1,234,567", -4200: "-4,200"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
