package reports

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/perf/benchmath"
	"golang.org/x/perf/benchproc"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// PlotWidth and PlotHeight are the size plots are rendered at: readable
// embedded in a page at full width.
var (
	PlotWidth  = 16 * vg.Centimeter
	PlotHeight = 10 * vg.Centimeter
)

// Render writes p in format ("svg" or "png") at the standard size.
func Render(p *plot.Plot, format string) ([]byte, error) {
	return RenderSize(p, format, PlotWidth, PlotHeight)
}

// RenderSize is Render at a given size, for plots whose content sets
// their width, such as a fault matrix with many modes.
func RenderSize(p *plot.Plot, format string, width, height vg.Length) ([]byte, error) {
	wt, err := p.WriterTo(width, height, format)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// parseSize reads the binary sizes cell names carry: 512B, 64KiB, 1MiB.
func parseSize(s string) (float64, bool) {
	for i, u := range []string{"TiB", "GiB", "MiB", "KiB", "B"} {
		if n, ok := strings.CutSuffix(s, u); ok {
			v, err := strconv.ParseFloat(n, 64)
			return v * math.Pow(1024, float64(4-i)), err == nil
		}
	}
	return 0, false
}

// series is one line of a threshold plot: a granularity x compression.
type series struct {
	name   string
	points map[float64]*Cell // threshold -> sample
}

// strategy projects a cell on every spill knob but the threshold: the
// lines of a threshold plot, the columns of a threshold table.
const strategy = "/target,/gran,/comp,/reclaim,/backend,/workers,/ring"

// strategyLabels names each key by the values that vary among keys, so a
// sweep of granularity and compression reads "batch none", not
// "batch none keep dir 2 1024".
func strategyLabels(keys []benchproc.Key) []string {
	var fields [][]string
	for _, k := range keys {
		fields = append(fields, strings.Fields(k.StringValues()))
	}
	varies := map[int]bool{}
	for _, f := range fields {
		for i := range f {
			if i >= len(fields[0]) || f[i] != fields[0][i] {
				varies[i] = true
			}
		}
	}
	labels := make([]string, len(keys))
	for j, f := range fields {
		var parts []string
		for i, v := range f {
			if varies[i] {
				parts = append(parts, v)
			}
		}
		if len(parts) == 0 {
			// One strategy: name its granularity and compression, or
			// whatever a hand-made result name carries.
			parts = f[:min(2, len(f))]
		}
		labels[j] = strings.Join(parts, " ")
		if labels[j] == "" {
			labels[j] = "all"
		}
	}
	return labels
}

// thresholdSeries groups a workload's engine results (no fault) of unit by
// strategy and threshold; where, if set, narrows them further (a
// benchproc filter such as "/workers:2").
func thresholdSeries(s *Set, workload, where, unit string) ([]series, error) {
	t, err := Summarize(s, Query{
		Filter: strings.TrimSpace(fmt.Sprintf("%s /workload:%s /fault:none %s", targetCells, workload, where)),
		Row:    strategy, Col: "/threshold", Unit: unit,
	})
	if err != nil {
		return nil, err
	}
	labels := strategyLabels(t.Rows)
	var out []series
	for i := range t.Rows {
		sr := series{name: labels[i], points: map[float64]*Cell{}}
		for j, ck := range t.Cols {
			x, ok := parseSize(ck.StringValues())
			if ok && t.Cells[i][j] != nil {
				sr.points[x] = t.Cells[i][j]
			}
		}
		if len(sr.points) > 0 {
			out = append(out, sr)
		}
	}
	return out, nil
}

// finiteInterval is a summary's confidence interval, or its center alone
// when the interval is unbounded (too few samples for the confidence
// level, which benchstat prints as ± ∞).
func finiteInterval(s benchmath.Summary) (lo, hi float64) {
	lo, hi = s.Lo, s.Hi
	if math.IsInf(lo, 0) || math.IsNaN(lo) {
		lo = s.Center
	}
	if math.IsInf(hi, 0) || math.IsNaN(hi) {
		hi = s.Center
	}
	return lo, hi
}

// errPoints are points with asymmetric y error bars (the interval), as
// gonum's plotter.NewYErrorBars takes them.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// MetricVsThreshold plots a metric of a workload's engine cells against
// the threshold (log scale), a line per granularity x compression with
// its confidence interval as error bars. With budget set, the threshold
// itself is drawn as the budget line.
//
// The axes fit the data, not the budget: where the budget line runs out
// of them, an entry under the budget's in the legend says how far it
// goes. The legend stands right of the data, never over it.
func MetricVsThreshold(s *Set, workload, unit, title, ylabel string, budget bool) (*plot.Plot, error) {
	return MetricVsThresholdWhere(s, workload, "", unit, title, ylabel, budget)
}

// MetricVsThresholdWhere is MetricVsThreshold over the cells the benchproc
// filter where selects, for sweeps with more strategies than a legend can
// hold (one worker count of several, say).
func MetricVsThresholdWhere(s *Set, workload, where, unit, title, ylabel string, budget bool) (*plot.Plot, error) {
	ss, err := thresholdSeries(s, workload, where, unit)
	if err != nil {
		return nil, err
	}
	if len(ss) == 0 {
		return nil, fmt.Errorf("no %s results for workload %s", unit, workload)
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "spill threshold (bytes, log scale)"
	p.Y.Label.Text = ylabel
	p.X.Scale = plot.LogScale{}
	var xmin, xmax = math.Inf(1), math.Inf(-1)
	var ticks sizeTicks
	ymin, ymax := math.Inf(1), 0.0
	var labels []string
	for i, sr := range ss {
		xs := slices.Sorted(mapKeys(sr.points))
		ep := errPoints{}
		for _, x := range xs {
			c := sr.points[x]
			lo, hi := finiteInterval(c.Summary)
			ep.XYs = append(ep.XYs, plotter.XY{X: x, Y: c.Summary.Center})
			ep.YErrors = append(ep.YErrors, struct{ Low, High float64 }{c.Summary.Center - lo, hi - c.Summary.Center})
			xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
			ymin, ymax = math.Min(ymin, lo), math.Max(ymax, hi)
			if !slices.Contains(ticks, x) {
				ticks = append(ticks, x)
			}
		}
		line, points, err := plotter.NewLinePoints(ep.XYs)
		if err != nil {
			return nil, err
		}
		line.Color, points.Color = plotutil.Color(i), plotutil.Color(i)
		points.Shape = plotutil.Shape(i)
		bars, err := plotter.NewYErrorBars(ep)
		if err != nil {
			return nil, err
		}
		bars.Color = plotutil.Color(i)
		p.Add(line, points, bars)
		p.Legend.Add(sr.name, line, points)
		labels = append(labels, sr.name)
	}
	if budget {
		b, err := plotter.NewLine(plotter.XYs{{X: xmin, Y: xmin}, {X: xmax, Y: xmax}})
		if err != nil {
			return nil, err
		}
		b.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		b.Color = budgetColor
		p.Add(b)
		p.Legend.Add("budget (= threshold)", b)
		labels = append(labels, "budget (= threshold)")
	}
	// The axes, set after every Add, which widens them to each line's
	// range: the budget's too. The thresholds are the x ticks.
	p.X.Tick.Marker = ticks
	p.X.Min, p.X.Max = xmin/1.6, xmax*1.6
	p.Y.Min, p.Y.Max = 0, ymax*1.1
	if budget {
		// Bytes: binary units on the axis.
		p.Y.Tick.Marker = byteTicks{}
		// The budget widens the axis only by a little.
		if xmax <= ymax*1.25 {
			p.Y.Max = math.Max(p.Y.Max, xmax*1.05)
		}
		if ymin > 0 && ymax/ymin > 100 {
			// Bytes spanning decades (peaks that follow the threshold,
			// say): a log scale shows the tight thresholds too.
			p.Y.Scale = plot.LogScale{}
			p.Y.Label.Text += " (log scale)"
			p.Y.Min, p.Y.Max = ymin/1.3, ymax*1.3
			if xmin >= ymin/4 {
				p.Y.Min = math.Min(p.Y.Min, xmin/1.1)
			}
			if xmax <= ymax*4 {
				p.Y.Max = math.Max(p.Y.Max, xmax*1.1)
			}
			p.Y.Tick.Marker = powerTicks(p.Y.Min, p.Y.Max)
		}
		// Where the budget runs off the axis, the legend says so.
		for _, note := range budgetOffAxis(xmin, xmax, p.Y.Min, p.Y.Max) {
			p.Legend.Add(note)
			labels = append(labels, note)
		}
	}
	legendBeside(p, labels...)
	return p, nil
}

// sizeTicks marks the thresholds a plot has, labelled in binary units.
type sizeTicks []float64

func (t sizeTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for _, v := range t {
		if v >= min && v <= max {
			ts = append(ts, plot.Tick{Value: v, Label: formatBytes(v)})
		}
	}
	return ts
}

// powerTicks marks powers of 4 bytes between min and max, or of 16 when
// that would crowd the axis.
func powerTicks(min, max float64) sizeTicks {
	for _, step := range []float64{4, 16, 256} {
		var t sizeTicks
		for v := 1.0; v <= max; v *= step {
			if v >= min {
				t = append(t, v)
			}
		}
		if len(t) <= 8 {
			return t
		}
	}
	return nil
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// CategoryBars stacks each attribution's categories as shares of its
// total, a bar per profile.
func CategoryBars(as []Attribution, title string) (*plot.Plot, error) {
	if len(as) == 0 {
		return nil, fmt.Errorf("no profiles to attribute")
	}
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = "share of samples (%)"
	p.X.Label.Text = "cell"
	names := make([]string, len(as))
	for i := range as {
		names[i] = fmt.Sprintf("#%d", i+1)
	}
	p.NominalX(names...)
	cats := append(categoryNames(), "other")
	var below *plotter.BarChart
	layers := make([]*plotter.BarChart, len(cats))
	for ci, cat := range cats {
		vals := make(plotter.Values, len(as))
		for i, a := range as {
			if a.Total > 0 {
				vals[i] = 100 * float64(a.Categories[cat]) / float64(a.Total)
			}
		}
		bars, err := plotter.NewBarChart(vals, PlotWidth/vg.Length(2*(len(as)+4)))
		if err != nil {
			return nil, err
		}
		bars.Color = categoryColors[ci%len(categoryColors)]
		bars.LineStyle.Width = 0
		if below != nil {
			bars.StackOn(below)
		}
		below, layers[ci] = bars, bars
		p.Add(bars)
	}
	// The legend stands right of the bars, its entries in the order of
	// the stack's layers, top down.
	for ci := len(cats) - 1; ci >= 0; ci-- {
		p.Legend.Add(cats[ci], layers[ci])
	}
	legendBeside(p, cats...)
	p.X.Min, p.X.Max = -0.7, float64(len(as))-0.3
	p.Y.Max = 100
	return p, nil
}

// categoryColors are distinct colours, one per category and other: the
// ten of Tableau 10, then black.
var categoryColors = []color.Color{
	color.RGBA{0x4e, 0x79, 0xa7, 0xff}, color.RGBA{0xf2, 0x8e, 0x2b, 0xff}, color.RGBA{0xe1, 0x57, 0x59, 0xff},
	color.RGBA{0x76, 0xb7, 0xb2, 0xff}, color.RGBA{0x59, 0xa1, 0x4f, 0xff}, color.RGBA{0xed, 0xc9, 0x48, 0xff},
	color.RGBA{0xb0, 0x7a, 0xa1, 0xff}, color.RGBA{0xff, 0x9d, 0xa7, 0xff}, color.RGBA{0x9c, 0x75, 0x5f, 0xff},
	color.RGBA{0xba, 0xb0, 0xac, 0xff}, color.RGBA{0x33, 0x33, 0x33, 0xff},
}

func categoryNames() []string {
	var ns []string
	for _, c := range Categories {
		ns = append(ns, c.Name)
	}
	return ns
}

// Fault outcome classes, in legend order.
var outcomeClasses = []struct {
	name  string
	color color.Color
}{
	{"clean typed error", color.RGBA{0x2c, 0xa0, 0x2c, 0xff}},
	{"recovered", color.RGBA{0x1f, 0x77, 0xb4, 0xff}},
	{"unaffected", color.RGBA{0xae, 0xc7, 0xe8, 0xff}},
	{"data lost", color.RGBA{0xd6, 0x27, 0x28, 0xff}},
	{"did not fire", color.RGBA{0xff, 0x7f, 0x0e, 0xff}},
	{"timed out", color.RGBA{0x94, 0x67, 0xbd, 0xff}},
	{"interrupted", color.RGBA{0x8c, 0x56, 0x4b, 0xff}},
	{"unavailable", color.RGBA{0x99, 0x99, 0x99, 0xff}},
	// External targets only: a death or an unlisted exit code, a run
	// killed at its time limit, a fault that cannot reach a process.
	{"crashed", color.RGBA{0x94, 0x67, 0xbd, 0xff}},
	{"timed out", color.RGBA{0x8c, 0x56, 0x4b, 0xff}},
	{"not applicable", color.RGBA{0xf2, 0xe2, 0xa6, 0xff}},
}

// FaultClass classifies a fault cell's outcome for the matrix.
func FaultClass(o Outcome) string {
	switch {
	case o.Status == "skipped":
		return "unavailable"
	case o.Status == "not-applicable":
		return "not applicable"
	case o.Status == "crash":
		return "crashed"
	case o.Status == "timeout" && o.External != nil:
		return "timed out"
	case o.Lost+o.Duplicated+o.Corrupted > 0 || o.Status == "data-lost":
		return "data lost"
	case o.Status == "timeout":
		// Its exit code says an error, but the run was stopped from
		// outside: no evidence that the buffer failed cleanly.
		return "timed out"
	case o.Status == "interrupted":
		return "interrupted"
	case o.Fault == nil || !o.Fault.Fired || o.Status == "fault-not-fired":
		return "did not fire"
	case o.ExitCode != 0:
		return "clean typed error"
	case o.Status == "ok" && o.Fault.Errno != "":
		return "recovered"
	}
	return "unaffected"
}

// matrixGrid is a GridXYZ of class indexes.
type matrixGrid struct {
	cols, rows []string
	z          [][]float64 // [row][col], NaN where no cell
}

func (g matrixGrid) Dims() (c, r int)   { return len(g.cols), len(g.rows) }
func (g matrixGrid) Z(c, r int) float64 { return g.z[r][c] }
func (g matrixGrid) X(c int) float64    { return float64(c) }
func (g matrixGrid) Y(r int) float64    { return float64(r) }

type classPalette []color.Color

func (p classPalette) Colors() []color.Color { return p }

// FaultMatrix draws mechanism (rows) x fault mode (columns), each square
// coloured by the outcome most of its repetitions had.
//
// The width it returns fits one labelled square per mode; it is never
// less than PlotWidth.
func FaultMatrix(outcomes []Outcome, title string) (*plot.Plot, vg.Length, error) {
	votes := map[[2]string]map[string]int{}
	var mechs, modes []string
	for _, o := range outcomes {
		if o.Fault == nil && o.Status != "skipped" && o.Status != "not-applicable" {
			continue
		}
		fault := o.Keys["fault"]
		inj, mode, ok := strings.Cut(fault, ":")
		if !ok {
			continue
		}
		k := [2]string{inj, mode}
		if votes[k] == nil {
			votes[k] = map[string]int{}
		}
		votes[k][FaultClass(o)]++
		if !slices.Contains(mechs, inj) {
			mechs = append(mechs, inj)
		}
		if !slices.Contains(modes, mode) {
			modes = append(modes, mode)
		}
	}
	if len(votes) == 0 {
		return nil, 0, fmt.Errorf("no fault cells")
	}
	slices.Sort(mechs)
	slices.Sort(modes)
	g := matrixGrid{cols: modes, rows: mechs}
	for _, m := range mechs {
		row := make([]float64, len(modes))
		for j, mode := range modes {
			row[j] = math.NaN()
			n := 0
			for ci, c := range outcomeClasses {
				if v := votes[[2]string{m, mode}][c.name]; v > n {
					n, row[j] = v, float64(ci)
				}
			}
		}
		g.z = append(g.z, row)
	}
	var pal classPalette
	for _, c := range outcomeClasses {
		pal = append(pal, c.color)
	}
	hm := plotter.NewHeatMap(g, pal)
	hm.Min, hm.Max = 0, float64(len(outcomeClasses)-1)
	hm.NaN = notRunColor
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "fault mode"
	p.Y.Label.Text = "mechanism"
	p.Add(hm)
	p.NominalX(modes...)
	p.NominalY(mechs...)
	p.X.Tick.Label.Rotation = math.Pi / 5
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	// Each square is labelled with its class, a square no cell ran in
	// with "not run" on light grey: a blank would read as a rendering
	// gap. The legend beside lists the classes shown.
	var lab plotter.XYLabels
	var ink []color.Color
	shown := map[string]bool{}
	for r := range mechs {
		for c := range modes {
			name, bg := notRun, color.Color(notRunColor)
			if z := g.z[r][c]; !math.IsNaN(z) {
				name, bg = outcomeClasses[int(z)].name, outcomeClasses[int(z)].color
			}
			shown[name] = true
			lab.XYs = append(lab.XYs, plotter.XY{X: float64(c), Y: float64(r)})
			// One word a line keeps a square narrow.
			lab.Labels = append(lab.Labels, strings.ReplaceAll(name, " ", "\n"))
			ink = append(ink, textOn(bg))
		}
	}
	var legend []string
	for _, c := range append(slices.Clone(outcomeClasses), struct {
		name  string
		color color.Color
	}{notRun, notRunColor}) {
		if !shown[c.name] {
			continue
		}
		sw, err := plotter.NewPolygon(plotter.XYs{{}, {X: 1}, {X: 1, Y: 1}})
		if err != nil {
			return nil, 0, err
		}
		sw.Color, sw.LineStyle.Width = c.color, 0
		p.Legend.Add(c.name, sw)
		legend = append(legend, c.name)
	}
	legendBeside(p, legend...)
	labels, err := plotter.NewLabels(lab)
	if err != nil {
		return nil, 0, err
	}
	for i := range labels.TextStyle {
		labels.TextStyle[i].XAlign, labels.TextStyle[i].YAlign = draw.XCenter, draw.YCenter
		labels.TextStyle[i].Color = ink[i]
		labels.TextStyle[i].Font.Size = vg.Points(8)
	}
	p.Add(labels)
	// "unavailable", the longest word, is about 1.6 cm at 8 points; the
	// legend beside takes about 4 cm.
	return p, max(PlotWidth, 8*vg.Centimeter+vg.Length(len(modes))*2*vg.Centimeter), nil
}

// textOn is the label colour readable on a square of colour bg: black on
// light squares, white on dark ones.
func textOn(bg color.Color) color.Color {
	r, g, b, _ := bg.RGBA()
	if 299*r+587*g+114*b > 1000*0x9000 {
		return color.Black
	}
	return color.White
}

// HistoryPoint is a metric's summary at one commit.
type HistoryPoint struct {
	Label          string // commit (short) and date
	Center, Lo, Hi float64
}

// HistoryPlot plots a metric across commits with its confidence band,
// and a labelled dashed vertical line at every marked entry: red where
// the level got worse, green where it got better.
func HistoryPlot(points []HistoryPoint, title, ylabel string, marks ...HistoryMark) (*plot.Plot, error) {
	if len(points) == 0 {
		return nil, fmt.Errorf("no history")
	}
	for _, m := range marks {
		if m.Index < 0 || m.Index >= len(points) {
			return nil, fmt.Errorf("history mark at entry %d of %d", m.Index, len(points))
		}
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "commit"
	p.Y.Label.Text = ylabel
	var line plotter.XYs
	var band plotter.XYs
	labels := make([]string, len(points))
	for i, pt := range points {
		line = append(line, plotter.XY{X: float64(i), Y: pt.Center})
		band = append(band, plotter.XY{X: float64(i), Y: pt.Hi})
		labels[i] = pt.Label
	}
	for i := len(points) - 1; i >= 0; i-- {
		band = append(band, plotter.XY{X: float64(i), Y: points[i].Lo})
	}
	poly, err := plotter.NewPolygon(band)
	if err != nil {
		return nil, err
	}
	poly.Color = color.NRGBA{0x1f, 0x77, 0xb4, 0x40} // not RGBA: that is premultiplied, and this drew magenta
	poly.LineStyle.Width = 0
	l, pts, err := plotter.NewLinePoints(line)
	if err != nil {
		return nil, err
	}
	l.Color, pts.Color = plotutil.Color(0), plotutil.Color(0)
	p.Add(poly)
	if len(marks) > 0 {
		marks = slices.Clone(marks)
		slices.SortStableFunc(marks, func(a, b HistoryMark) int { return a.Index - b.Index })
		p.Add(changeMarks(marks))
	}
	p.Add(l, pts) // over the marks
	p.Legend.Add("median", l, pts)
	p.Legend.Add("95% interval", poly)
	legend := []string{"median", "95% interval"}
	for i, name := range []string{"level got better", "level got worse"} {
		worse := i == 1
		if slices.ContainsFunc(marks, func(m HistoryMark) bool { return m.Worse == worse }) {
			p.Legend.Add(name, markThumb(worse))
			legend = append(legend, name)
		}
	}
	legendBeside(p, legend...)
	p.NominalX(labels...)
	p.X.Tick.Label.Rotation = math.Pi / 5
	p.X.Tick.Label.XAlign = draw.XRight
	return p, nil
}

// changeMarks draws HistoryPlot's marks: a dashed line across the whole
// height of the data area at each marked entry, red where the level got
// worse and green where it got better, its label at the top in the
// legend's font, moved down a line where it would overlap the label of
// an earlier mark. It has no data range, so it never widens the axes.
type changeMarks []HistoryMark

func markStyle(worse bool) draw.LineStyle {
	c := color.Color(color.RGBA{0x2c, 0xa0, 0x2c, 0xff}) // green
	if worse {
		c = color.RGBA{0xd6, 0x27, 0x28, 0xff} // red
	}
	return draw.LineStyle{Color: c, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
}

// Plot implements plot.Plotter.
func (cm changeMarks) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, _ := plt.Transforms(&c)
	text := plt.Legend.TextStyle
	text.XAlign, text.YAlign = draw.XLeft, draw.YTop
	pad := vg.Points(2)
	var rowEnds []vg.Length // where the last label of each row ends
	for _, m := range cm {
		line := markStyle(m.Worse)
		x := trX(float64(m.Index))
		c.StrokeLine2(line, x, c.Min.Y, x, c.Max.Y)
		row := 0
		for row < len(rowEnds) && rowEnds[row] > x {
			row++
		}
		if row == len(rowEnds) {
			rowEnds = append(rowEnds, 0)
		}
		rowEnds[row] = x + pad + text.Width(m.Label) + pad
		text.Color = line.Color
		c.FillText(text, vg.Point{X: x + pad, Y: c.Max.Y - pad - vg.Length(row)*text.Height(m.Label)}, m.Label)
	}
}

// markThumb is a mark's legend entry.
type markThumb bool

// Thumbnail implements plot.Thumbnailer.
func (worse markThumb) Thumbnail(c *draw.Canvas) {
	x := (c.Min.X + c.Max.X) / 2
	c.StrokeLine2(markStyle(bool(worse)), x, c.Min.Y, x, c.Max.Y)
}

var _ palette.Palette = classPalette(nil)
