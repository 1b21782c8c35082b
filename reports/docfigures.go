package reports

// Figures of the design documents that summarize a long table: the knee
// of every strategy (threshold tuning) and the outcome of every survival
// sweep (fault survival). Each figure's data is computed by a function of
// its own (kneeChartOf, survivalSweeps) that tests check against
// hand-computed values; the plot functions only draw it.

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// figSize is fig at a given size, for plots whose rows set their height.
func (d *doc) figSize(name, caption string, p *plot.Plot, width, height vg.Length) error {
	svg, err := RenderSize(p, "svg", width, height)
	if err != nil {
		return err
	}
	png, err := RenderSize(p, "png", width, height)
	if err != nil {
		return err
	}
	d.blocks = append(d.blocks, figure{name, caption, svg, png})
	return nil
}

// kneeChart is what KneePlot draws: the knee of every strategy in every
// workload.
type kneeChart struct {
	workloads  []string    // a colour each, in legend order
	strategies []string    // the rows, top to bottom, in knee-table order
	at         [][]float64 // [workload][strategy]: the knee in bytes, NaN where not measured
	knee       []float64   // [workload]: its knee, the median of its strategies'
	def        float64     // the recommended default: the largest workload knee
	thresholds []float64   // the thresholds measured, ascending: the ticks
}

// kneeChartOf arranges knees (as strategyKnees finds them) for KneePlot;
// thresholds are the thresholds the sweep measured, for the axis.
func kneeChartOf(knees []knee, thresholds []float64) kneeChart {
	var c kneeChart
	for _, k := range knees {
		if !slices.Contains(c.workloads, k.workload) {
			c.workloads = append(c.workloads, k.workload)
		}
		if !slices.Contains(c.strategies, k.strategy) {
			c.strategies = append(c.strategies, k.strategy)
		}
	}
	c.at = make([][]float64, len(c.workloads))
	for i := range c.at {
		c.at[i] = make([]float64, len(c.strategies))
		for j := range c.at[i] {
			c.at[i][j] = math.NaN()
		}
	}
	for _, k := range knees {
		c.at[slices.Index(c.workloads, k.workload)][slices.Index(c.strategies, k.strategy)] = k.at
	}
	for _, w := range c.workloads {
		at, _ := workloadKnee(knees, w)
		c.knee = append(c.knee, at)
		c.def = math.Max(c.def, at)
	}
	c.thresholds = slices.Clone(thresholds)
	slices.Sort(c.thresholds)
	return c
}

// kneeRow is the height of a strategy's row in KneePlot, and
// KneeWidth its width: four panels of eight thresholds need more than
// PlotWidth.
const (
	kneeRow   = 0.42 * vg.Centimeter
	KneeWidth = 20 * vg.Centimeter
)

// KneePlot draws c as a dot plot in a panel per workload: a row per
// strategy, its knee threshold across on a log scale. In each panel a
// solid line marks the workload's knee and a dashed one the default. It
// returns the height that gives each row kneeRow at KneeWidth.
//
// Note: one panel with a colour per workload, dodged within a row, was
// tried first; most knees sit on the smallest threshold, so four marks
// overlapped in nearly every row.
func KneePlot(c kneeChart, title string) (*plot.Plot, vg.Length, error) {
	if len(c.strategies) == 0 || len(c.workloads) == 0 {
		return nil, 0, fmt.Errorf("no knees to plot")
	}
	ts := kneeThresholds(c)
	if len(ts) == 0 {
		return nil, 0, fmt.Errorf("no thresholds to plot")
	}
	l := newKneeLayout(len(c.strategies), ts)
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "spill threshold at the knee (bytes, log scale), a panel per workload"
	p.Y.Label.Text = "strategy"
	small := vg.Points(9)
	p.Y.Tick.Label.Font.Size = small
	p.X.Tick.Label.Font.Size = small
	p.Legend.TextStyle.Font.Size = small
	p.Legend.Top = true

	var ticks []plot.Tick
	var titles plotter.XYLabels
	for w, name := range c.workloads {
		if err := addKneePanel(p, c, l, w); err != nil {
			return nil, 0, err
		}
		ticks = append(ticks, l.ticks(w)...)
		x0, x1 := l.panel(w)
		titles.XYs = append(titles.XYs, plotter.XY{X: (x0 + x1) / 2, Y: l.top() + 0.6})
		titles.Labels = append(titles.Labels, fmt.Sprintf("%s: knee %s", name, formatBytes(c.knee[w])))
	}
	tl, err := plotter.NewLabels(titles)
	if err != nil {
		return nil, 0, err
	}
	for i := range tl.TextStyle {
		tl.TextStyle[i].XAlign, tl.TextStyle[i].YAlign = draw.XCenter, draw.YCenter
		tl.TextStyle[i].Font.Size = small
	}
	p.Add(tl)
	p.X.Min, p.X.Max = 0, float64(len(c.workloads))*(l.span+l.gap)-l.gap
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	// Above the rows: the panel titles, then the legend, a row an entry.
	p.Y.Min, p.Y.Max = l.bottom()-0.2, l.top()+1.2+3
	rows := make([]plot.Tick, l.n)
	for i, s := range c.strategies {
		rows[i] = plot.Tick{Value: l.rowY(i), Label: s}
	}
	p.Y.Tick.Marker = plot.ConstantTicks(rows)
	// At least the standard height: few rows still leave the title, the
	// legend and the axes room.
	height := max(PlotHeight, 2.8*vg.Centimeter+vg.Length(p.Y.Max-p.Y.Min)*kneeRow)
	return p, height, nil
}

// kneeThresholds are the thresholds KneePlot marks, ascending: those
// measured, and every knee and the default that is not one of them.
func kneeThresholds(c kneeChart) []float64 {
	ts := slices.Clone(c.thresholds)
	for w := range c.workloads {
		for _, x := range append(slices.Clone(c.at[w]), c.knee[w], c.def) {
			if !math.IsNaN(x) && x > 0 && !slices.Contains(ts, x) {
				ts = append(ts, x)
			}
		}
	}
	slices.Sort(ts)
	return ts
}

// kneeLayout places KneePlot's marks: n rows, the first strategy on
// top, and panel w spanning [w*(span+gap), w*(span+gap)+span] in binary
// decades (log2 bytes), with kneePad of margin either side of the
// thresholds ts.
type kneeLayout struct {
	n             int
	ts            []float64 // ascending, not empty
	lo, span, gap float64
}

// kneePad is the margin either side of a panel's thresholds, in binary
// decades.
const kneePad = 1.0

// newKneeLayout lays out n rows against the thresholds ts, ascending.
func newKneeLayout(n int, ts []float64) kneeLayout {
	lo := ts[0]
	span := math.Log2(ts[len(ts)-1]/lo) + 2*kneePad
	return kneeLayout{n: n, ts: ts, lo: lo, span: span, gap: 0.2 * span}
}

// rowY is the height of row i.
func (l kneeLayout) rowY(i int) float64 { return float64(l.n - 1 - i) }

// top and bottom are the edges of the rows.
func (l kneeLayout) top() float64    { return l.rowY(0) + 0.5 }
func (l kneeLayout) bottom() float64 { return l.rowY(l.n-1) - 0.5 }

// panel is the left and right edges of workload w's panel.
func (l kneeLayout) panel(w int) (x0, x1 float64) {
	return float64(w) * (l.span + l.gap), float64(w)*(l.span+l.gap) + l.span
}

// xOf is where threshold t stands across in workload w's panel.
func (l kneeLayout) xOf(w int, t float64) float64 {
	return float64(w)*(l.span+l.gap) + kneePad + math.Log2(t/l.lo)
}

// ticks are workload w's ticks: one at every threshold, a label at every
// third or so.
func (l kneeLayout) ticks(w int) []plot.Tick {
	step := max(1, (len(l.ts)+2)/3)
	var ticks []plot.Tick
	for i, t := range l.ts {
		tick := plot.Tick{Value: l.xOf(w, t)}
		if i%step == 0 {
			tick.Label = formatBytes(t)
		}
		ticks = append(ticks, tick)
	}
	return ticks
}

// addKneePanel adds workload w's panel to p: the rows behind, then the
// workload's knee, the default and the knee of every strategy. The first
// panel's marks go in the legend.
func addKneePanel(p *plot.Plot, c kneeChart, l kneeLayout, w int) error {
	if err := addKneeRows(p, c, l, w); err != nil {
		return err
	}
	defLine, err := styledLine(plotter.XYs{{X: l.xOf(w, c.def), Y: l.bottom()}, {X: l.xOf(w, c.def), Y: l.top()}}, color.Gray{Y: 90}, vg.Points(1), true)
	if err != nil {
		return err
	}
	kneeLine, err := styledLine(plotter.XYs{{X: l.xOf(w, c.knee[w]), Y: l.bottom()}, {X: l.xOf(w, c.knee[w]), Y: l.top()}}, color.RGBA{0xff, 0x7f, 0x0e, 0xff}, vg.Points(1.5), false)
	if err != nil {
		return err
	}
	var pts plotter.XYs
	for i, x := range c.at[w] {
		if !math.IsNaN(x) {
			pts = append(pts, plotter.XY{X: l.xOf(w, x), Y: l.rowY(i)})
		}
	}
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return err
	}
	sc.Color, sc.Shape, sc.Radius = color.RGBA{0x1f, 0x77, 0xb4, 0xff}, draw.CircleGlyph{}, vg.Points(2.5)
	p.Add(kneeLine, defLine, sc)
	if w == 0 {
		p.Legend.Add("knee of a strategy", sc)
		p.Legend.Add("knee of the workload (median of its strategies)", kneeLine)
		p.Legend.Add("recommended default: "+formatBytes(c.def)+", the largest workload knee", defLine)
	}
	return nil
}

// addKneeRows adds the background of workload w's panel to p: every
// other group of strategies that differ only in their last knob (the
// worker count) on a light band, and a faint line along every row to
// lead the eye from its label across the panel.
func addKneeRows(p *plot.Plot, c kneeChart, l kneeLayout, w int) error {
	x0, x1 := l.panel(w)
	for _, g := range bandRows(c.strategies) {
		band, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: l.rowY(g[0]) + 0.5}, {X: x1, Y: l.rowY(g[0]) + 0.5}, {X: x1, Y: l.rowY(g[1]) - 0.5}, {X: x0, Y: l.rowY(g[1]) - 0.5}})
		if err != nil {
			return err
		}
		band.Color = color.Gray{Y: 243}
		band.LineStyle.Width = 0
		p.Add(band)
	}
	for i := range c.strategies {
		row, err := styledLine(plotter.XYs{{X: x0, Y: l.rowY(i)}, {X: x1, Y: l.rowY(i)}}, color.Gray{Y: 225}, vg.Points(0.5), false)
		if err != nil {
			return err
		}
		p.Add(row)
	}
	return nil
}

// styledLine is a line through xys of colour c and width, dashed or
// solid.
func styledLine(xys plotter.XYs, c color.Color, width vg.Length, dashed bool) (*plotter.Line, error) {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, err
	}
	l.Color, l.Width = c, width
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	}
	return l, nil
}

// bandRows are the first and last rows of every other run of labels
// that share all but their last word, the second run first; none when
// no run is longer than a row.
func bandRows(labels []string) [][2]int {
	prefix := func(s string) string {
		if i := strings.LastIndex(s, " "); i > 0 {
			return s[:i]
		}
		return s
	}
	var runs [][2]int
	for i, l := range labels {
		if i > 0 && prefix(l) == prefix(labels[i-1]) {
			runs[len(runs)-1][1] = i
			continue
		}
		runs = append(runs, [2]int{i, i})
	}
	if len(runs) == len(labels) {
		return nil
	}
	var out [][2]int
	for i := 1; i < len(runs); i += 2 {
		out = append(out, runs[i])
	}
	return out
}

// Survival outcome classes, in the order a sweep's bars stand.
var survivalClasses = []struct {
	name  string
	color color.Color
}{
	{"reported", color.RGBA{0x2c, 0xa0, 0x2c, 0xff}}, // the fault matrix's clean typed error
	{"harmless", color.RGBA{0x1f, 0x77, 0xb4, 0xff}}, // its recovered
	{"silent", color.RGBA{0xd6, 0x27, 0x28, 0xff}},   // its data lost
}

// survivalSweep counts the runs of one sweep by outcome class.
type survivalSweep struct {
	name  string
	count [3]int // reported, harmless, silent: survivalClasses
}

func (s survivalSweep) runs() int { return s.count[0] + s.count[1] + s.count[2] }

// survivalClass is a run's outcome: 0, reported, a typed error reached
// the caller (the run may still have delivered everything); 1, harmless,
// no error and every item delivered once and intact (the fault changed
// nothing, or the buffer recovered or absorbed it); 2, silent, wrong data
// and no error.
func survivalClass(r SurvivalRun) int {
	switch {
	case r.Silent:
		return 2
	case r.ErrorType != "" || r.Reached == "caller":
		return 0
	case r.Recovered:
		return 1
	}
	return 2 // wrong data that Silent did not flag: count it against us
}

// survivalSweepName names a run's sweep: the operation sweep is two, by
// persistence; the corruption sweep two, by damage.
func survivalSweepName(r SurvivalRun) string {
	switch {
	case r.Sweep == "operation" && r.Persistent:
		return "each operation failed for good"
	case r.Sweep == "operation":
		return "each operation failed once"
	case r.Sweep == "byte":
		return "each byte of a record write cut"
	case r.Sweep == "corruption" && r.Fault == "bit-flip":
		return "each bit of a spill file flipped"
	case r.Sweep == "corruption" && r.Fault == "truncate":
		return "each length of a spill file cut"
	}
	return strings.TrimSpace(r.Sweep + " " + r.Fault)
}

// survivalSweeps counts runs by sweep and outcome, the sweeps in the
// order of the document.
func survivalSweeps(runs []SurvivalRun) []survivalSweep {
	var out []survivalSweep
	for _, r := range runs {
		name := survivalSweepName(r)
		i := slices.IndexFunc(out, func(s survivalSweep) bool { return s.name == name })
		if i < 0 {
			out = append(out, survivalSweep{name: name})
			i = len(out) - 1
		}
		out[i].count[survivalClass(r)]++
	}
	order := []string{"each operation failed once", "each operation failed for good", "each byte of a record write cut",
		"each bit of a spill file flipped", "each length of a spill file cut"}
	rank := func(name string) int {
		if i := slices.Index(order, name); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(out, func(a, b survivalSweep) int {
		if d := rank(a.name) - rank(b.name); d != 0 {
			return d
		}
		return strings.Compare(a.name, b.name)
	})
	return out
}

// SurvivalPlot draws each sweep's runs as three horizontal bars,
// reported, harmless and silent, on a log scale, each labelled with its
// count and class, so a zero, which has no bar, still reads "0 silent".
func SurvivalPlot(sweeps []survivalSweep, title string) (*plot.Plot, error) {
	if len(sweeps) == 0 {
		return nil, fmt.Errorf("no survival runs")
	}
	most := 1
	var rows []plot.Tick
	for i, s := range sweeps {
		most = max(most, slices.Max(s.count[:]))
		rows = append(rows, plot.Tick{Value: survivalY(i, 1), Label: fmt.Sprintf("%s\n%s runs", s.name, thousands(s.runs()))})
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "runs (log scale)"
	p.Y.Label.Text = "sweep"
	p.X.Scale = plot.LogScale{}
	small := vg.Points(9)
	p.Y.Tick.Label.Font.Size = small
	p.X.Tick.Label.Font.Size = small
	text := p.Legend.TextStyle
	text.Font.Size = small
	text.XAlign, text.YAlign = draw.XLeft, draw.YCenter
	// Bars start at 1/2, so a single run is a bar as long as a doubling.
	// The axis reaches far enough right for every label to fit past its
	// bar at PlotWidth: the data area is what the sweep names leave.
	p.X.Min, p.X.Max = 0.5, float64(most)*2
	labels := 0 * vg.Centimeter
	for _, r := range rows {
		labels = max(labels, p.Y.Tick.Label.Rectangle(r.Label).Size().X)
	}
	area := PlotWidth - labels - 1.5*vg.Centimeter
	fits := func() bool {
		for _, s := range sweeps {
			for k, cl := range survivalClasses {
				room := math.Log(p.X.Max/math.Max(float64(s.count[k]), p.X.Min)) / math.Log(p.X.Max/p.X.Min)
				if vg.Length(room)*area < text.Width(thousands(s.count[k])+" "+cl.name)+vg.Points(6) {
					return false
				}
			}
		}
		return true
	}
	for !fits() {
		p.X.Max *= 1.25
	}
	p.X.Tick.Marker = countTicks{}
	p.Y.Min, p.Y.Max = survivalY(len(sweeps)-1, 2)-0.8, survivalY(0, 0)+0.8
	p.Y.Tick.Marker = plot.ConstantTicks(rows)
	p.Y.Tick.Length = 0
	p.Add(survivalBars{sweeps: sweeps, base: p.X.Min, text: text})
	return p, nil
}

// survivalY is the height of sweep i's bar of class k: the first sweep
// on top, a blank row between sweeps.
func survivalY(i, k int) float64 { return -float64(4*i + k) }

// survivalBars draws SurvivalPlot's bars and labels.
type survivalBars struct {
	sweeps []survivalSweep
	base   float64
	text   draw.TextStyle
}

// Plot implements plot.Plotter.
func (b survivalBars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	half := (trY(0) - trY(-1)) * 0.4
	pad := vg.Points(3)
	for i, s := range b.sweeps {
		for k, cl := range survivalClasses {
			y, x0 := trY(survivalY(i, k)), trX(b.base)
			x1 := x0
			if n := s.count[k]; n > 0 {
				x1 = trX(float64(n))
				c.FillPolygon(cl.color, []vg.Point{{X: x0, Y: y - half}, {X: x1, Y: y - half}, {X: x1, Y: y + half}, {X: x0, Y: y + half}})
			}
			t := b.text
			t.Color = cl.color
			c.FillText(t, vg.Point{X: x1 + pad, Y: y}, thousands(s.count[k])+" "+cl.name)
		}
	}
}

// countTicks marks the powers of ten, labelled in full.
type countTicks struct{}

// Ticks implements plot.Ticker.
func (countTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for v := 1.0; v <= max; v *= 10 {
		if v >= min {
			ts = append(ts, plot.Tick{Value: v, Label: thousands(int(v))})
		}
	}
	return ts
}

// thousands writes n with a comma between thousands: 88,732.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}
