package reports

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// historyBenchmarks are the cells of the synthetic histories, with their
// time per operation at level 1.
var historyBenchmarks = []struct {
	name string
	ns   float64
}{
	{"Engine/workload=mix/threshold=2KiB/gran=batch/comp=none/reclaim=keep/fault=none", 52e6},
	{"Engine/workload=mix/threshold=2KiB/gran=item/comp=none/reclaim=keep/fault=none", 48e6},
	{"Engine/workload=hol/threshold=2KiB/gran=batch/comp=none/reclaim=keep/fault=none", 61e6},
	{"Engine/workload=hol/threshold=2KiB/gran=item/comp=none/reclaim=keep/fault=none", 57e6},
}

// writeHistory builds a history store of n entries, one an hour: at
// entry i, benchmark b runs 8 times at level(b, i) times its base time,
// each with lognormal noise of 3% sd drawn from seed. items/s is a
// million items over the time.
func writeHistory(t *testing.T, seed uint64, n int, level func(b, i int) float64) *History {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	store := filepath.Join(t.TempDir(), "history")
	start := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	for i := range n {
		dir := t.TempDir()
		var res strings.Builder
		res.WriteString("Unit items/s better=higher\ngoos: linux\n\n")
		for range 8 {
			for b, bm := range historyBenchmarks {
				ns := bm.ns * level(b, i) * math.Exp(0.03*r.NormFloat64())
				fmt.Fprintf(&res, "Benchmark%s 1 %.0f ns/op %.1f items/s\n", bm.name, ns, 1e6/(ns/1e9))
			}
		}
		env := Env{Commit: fmt.Sprintf("c%03d", i), Start: start.Add(time.Duration(i) * time.Hour)}
		for f, b := range map[string]string{
			"results.txt":    res.String(),
			"env.json":       fmt.Sprintf(`{"commit": %q, "start": %q}`, env.Commit, env.Start.Format(time.RFC3339)),
			"outcomes.jsonl": "",
		} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(b), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := AddHistory(store, &Dir{Path: dir, Env: env}, ""); err != nil {
			t.Fatal(err)
		}
	}
	h, err := LoadHistory(store)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Entries) != n {
		t.Fatalf("%d entries in the store, want %d", len(h.Entries), n)
	}
	return h
}

// step is 1, then to from entry at on, for benchmark 0 only.
func step(at int, to float64) func(b, i int) float64 {
	return func(b, i int) float64 {
		if b == 0 && i >= at {
			return to
		}
		return 1
	}
}

func trend(t *testing.T, h *History, unit string) *HistoryTrend {
	t.Helper()
	tr, err := h.Trend(unit, ".name:Engine", ChangePointConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Points) != len(h.Entries) || len(tr.Benchmarks) != len(historyBenchmarks) {
		t.Fatalf("%d points of %d benchmarks; want %d of %d", len(tr.Points), len(tr.Benchmarks), len(h.Entries), len(historyBenchmarks))
	}
	return tr
}

func describe(cs []HistoryChange) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "\n  %s at entry %d: %s [%s, %s] worse=%v p=%.4f net %s lasting=%v",
			c.Benchmark, c.Index, signedPercent(c.Ratio), signedPercent(c.Lo), signedPercent(c.Hi), c.Worse, c.P, signedPercent(c.Net), c.Lasting)
	}
	return b.String()
}

func TestHistoryFindsAPlantedStep(t *testing.T) {
	h := writeHistory(t, 1, 20, step(10, 1.10))
	tr := trend(t, h, "sec/op")
	found := false
	for _, c := range tr.Changes {
		if c.Benchmark != historyBenchmarks[0].name {
			t.Errorf("a change in a benchmark that did not move:%s", describe(tr.Changes))
		}
		if c.Index >= 9 && c.Index <= 11 {
			found = true
			if !c.Worse || c.Ratio < 1.05 || c.Ratio > 1.15 || c.Lo <= 1 || c.Hi < c.Ratio || c.Lo > c.Ratio {
				t.Errorf("the step: %s", describe([]HistoryChange{c}))
			}
			if c.Entry != h.Entries[c.Index].Name || c.Commit != fmt.Sprintf("c%03d", c.Index) {
				t.Errorf("the step names entry %s, commit %s; want entry %d's", c.Entry, c.Commit, c.Index)
			}
		}
	}
	if !found {
		t.Fatalf("no change point at entry 10±1:%s", describe(tr.Changes))
	}
	regs := tr.Regressions(0)
	if len(regs) != 1 || regs[0].Benchmark != historyBenchmarks[0].name {
		t.Fatalf("regressions in effect:%s; want the step", describe(regs))
	}
	if regs := tr.Regressions(0.20); len(regs) != 0 {
		t.Fatalf("a 10%% step passed a 20%% threshold:%s", describe(regs))
	}

	// Throughput falls where time rises: the same step, worse in items/s.
	thr := trend(t, h, "items/s")
	if !thr.HigherIsBetter {
		t.Fatal("items/s: higher is better, as results.txt says")
	}
	if regs := thr.Regressions(0); len(regs) != 1 || regs[0].Ratio >= 1 || !regs[0].Worse {
		t.Fatalf("items/s regressions:%s; want the step, lower", describe(regs))
	}
}

func TestHistoryFindsASlowDrift(t *testing.T) {
	// Flat for 10 entries, then 1% worse a commit for 10 more: no two
	// neighbours differ by more than the noise.
	h := writeHistory(t, 2, 20, func(b, i int) float64 {
		if b == 0 && i >= 10 {
			return 1 + 0.01*float64(i-9)
		}
		return 1
	})
	tr := trend(t, h, "sec/op")
	inSpan := false
	for _, c := range tr.Changes {
		if c.Benchmark != historyBenchmarks[0].name {
			t.Errorf("a change in a benchmark that did not move:%s", describe(tr.Changes))
		}
		inSpan = inSpan || (c.Index >= 10 && c.Index <= 19 && c.Worse)
	}
	if !inSpan {
		t.Fatalf("no change point in the drift, entries 10-19:%s", describe(tr.Changes))
	}
	if regs := tr.Regressions(0); len(regs) != 1 {
		t.Fatalf("regressions in effect:%s; want the drift", describe(regs))
	}
	t.Logf("drift:%s", describe(tr.Changes))
}

// A/A: 20 histories of 10 entries where nothing changed. Holm holds the
// chance of any change point in a history to 5%, so one false alarm in
// 20 is expected and two are tolerated; with these seeds there is none.
func TestHistoryAAFalseAlarms(t *testing.T) {
	const seeds = 20
	alarms := 0
	for seed := range uint64(seeds) {
		h := writeHistory(t, 100+seed, 10, func(int, int) float64 { return 1 })
		tr := trend(t, h, "sec/op")
		if len(tr.Changes) > 0 {
			alarms++
			t.Logf("seed %d: a false alarm:%s", seed, describe(tr.Changes))
		}
		if regs := tr.Regressions(0); len(regs) > len(tr.Changes) {
			t.Fatalf("more regressions than changes:%s", describe(regs))
		}
	}
	t.Logf("A/A: %d of %d histories with a change point", alarms, seeds)
	if alarms > 2 {
		t.Fatalf("A/A: %d of %d histories with a change point; want at most 2", alarms, seeds)
	}
}

func TestHistoryImprovementIsNotARegression(t *testing.T) {
	h := writeHistory(t, 3, 20, step(10, 0.90))
	tr := trend(t, h, "sec/op")
	if len(tr.Changes) == 0 {
		t.Fatal("a 10% improvement was not found")
	}
	for _, c := range tr.Changes {
		if c.Worse || c.Benchmark != historyBenchmarks[0].name || c.Index < 9 || c.Index > 11 {
			t.Errorf("want one better change at entry 10:%s", describe(tr.Changes))
		}
	}
	if regs := tr.Regressions(0); len(regs) != 0 {
		t.Fatalf("an improvement is a regression in effect:%s", describe(regs))
	}
	if m := tr.Marks(); len(m) != 1 || m[0].Worse || !strings.HasPrefix(m[0].Label, "-") {
		t.Fatalf("marks %+v; want one, better", m)
	}
}

// A regression that a later change reverted is not in effect; one that a
// later change only partly undid still is.
func TestHistoryRegressionInEffectUntilUndone(t *testing.T) {
	// levels is 1, then mid from entry 7, then end from entry 14.
	levels := func(mid, end float64) func(int, int) float64 {
		return func(bench, i int) float64 {
			switch {
			case bench != 0 || i < 7:
				return 1
			case i < 14:
				return mid
			}
			return end
		}
	}
	reverted := trend(t, writeHistory(t, 4, 21, levels(1.15, 1.0)), "sec/op")
	if len(reverted.Changes) < 2 {
		t.Fatalf("want the regression and its revert:%s", describe(reverted.Changes))
	}
	if regs := reverted.Regressions(0); len(regs) != 0 {
		t.Fatalf("a reverted regression is in effect:%s\nchanges:%s", describe(regs), describe(reverted.Changes))
	}
	partly := trend(t, writeHistory(t, 5, 21, levels(1.20, 1.10)), "sec/op")
	regs := partly.Regressions(0)
	if len(regs) != 1 || regs[0].Index < 6 || regs[0].Index > 8 || regs[0].Net < 1.05 || regs[0].Net > 1.15 {
		t.Fatalf("a regression partly undone: in effect%s; want the one at entry 7, +10%% net\nchanges:%s", describe(regs), describe(partly.Changes))
	}
	if regs := partly.Regressions(0.15); len(regs) != 0 {
		t.Fatalf("a net 10%% passed a 15%% threshold:%s", describe(regs))
	}
}

// The plot of a history with a step marks the step's entry: a dashed
// line across the data area at that entry's x, labelled with the change,
// and no other.
func TestHistoryPlotMarksTheChangePoint(t *testing.T) {
	h := writeHistory(t, 1, 20, step(10, 1.10))
	tr := trend(t, h, "sec/op")
	marks := tr.Marks()
	if len(marks) != 1 || !marks[0].Worse || !strings.HasPrefix(marks[0].Label, "+") {
		t.Fatalf("marks %+v; want one, worse", marks)
	}
	m := marks[0]
	p, err := HistoryPlot(tr.Points, "trend", "sec/op", marks...)
	if err != nil {
		t.Fatal(err)
	}
	c := vgsvg.New(PlotWidth, PlotHeight)
	dc := draw.New(c)
	p.Draw(dc)
	da := p.DataCanvas(dc)
	trX, _ := p.Transforms(&da)
	var svg strings.Builder
	if _, err := c.WriteTo(&svg); err != nil {
		t.Fatal(err)
	}
	// Render gives the same document.
	if b, err := Render(p, "svg"); err != nil || string(b) != svg.String() {
		t.Fatalf("Render differs from drawing the plot on an SVG canvas (%v)", err)
	}
	near := func(a float64, b vg.Length) bool { return math.Abs(a-b.Points()) < 0.05 }
	var lines []float64
	for _, l := range regexp.MustCompile(`<path d="M([-\d.e]+),([-\d.e]+)L([-\d.e]+),([-\d.e]+)"\s*style="([^"]*)"`).FindAllStringSubmatch(svg.String(), -1) {
		f := make([]float64, 4)
		for i := range f {
			f[i], _ = strconv.ParseFloat(l[i+1], 64)
		}
		// Dashed, vertical, across the whole data area.
		if strings.Contains(l[5], "stroke-dasharray:4,3") && f[0] == f[2] && near(math.Min(f[1], f[3]), da.Min.Y) && near(math.Max(f[1], f[3]), da.Max.Y) {
			lines = append(lines, f[0])
		}
	}
	x := trX(float64(m.Index))
	if len(lines) != 1 || !near(lines[0], x) {
		t.Fatalf("dashed lines across the data area at x=%v; want one, at entry %d's x=%v", lines, m.Index, x.Points())
	}
	label := regexp.MustCompile(`<text x="([-\d.e]+)"[^>]*>` + regexp.QuoteMeta(m.Label) + `</text>`).FindStringSubmatch(svg.String())
	if label == nil {
		t.Fatalf("no text %q in the SVG", m.Label)
	}
	if lx, _ := strconv.ParseFloat(label[1], 64); lx < x.Points() || lx > x.Points()+10 {
		t.Fatalf("label %q at x=%v; want just right of the line at %v", m.Label, lx, x.Points())
	}
	if !strings.Contains(svg.String(), ">level got worse</text>") {
		t.Fatal("the legend does not name the mark")
	}
	if _, err := HistoryPlot(tr.Points, "trend", "sec/op", HistoryMark{Index: len(tr.Points)}); err == nil {
		t.Fatal("a mark past the last entry was accepted")
	}
}
