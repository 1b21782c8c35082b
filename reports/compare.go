package reports

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"
	"golang.org/x/perf/benchproc"
	"golang.org/x/perf/benchunit"
)

// Comparison is every row of every unit compared between an old and a
// new set, Holm-Bonferroni applied across all of them, with what could
// not be compared: rows on one side only, and cells whose runs failed.
type Comparison struct {
	Alpha     float64
	Threshold float64 // the relative change a regression must exceed, e.g. 0.05
	// Paired: the sets were run interleaved, and each row compares its
	// repetitions pair by pair (see Interleaved).
	Paired bool
	Units  []string // the units compared, in order
	// Higher says, per unit, that higher values are better.
	Higher map[string]bool
	Rows   []ComparedRow
	// Geomeans is benchstat's summary row of each unit and package
	// (benchstat has a table per configuration): the geometric means of
	// each side's centers and of the rows' ratios.
	Geomeans []Geomean
	// Missing is the rows of a unit one side has and the other has not.
	Missing []MissingRow
	// OldLabel and NewLabel name the sides in tables ("old" and "new"
	// if empty).
	OldLabel, NewLabel string
	// Drifts is the drift taken out of each unit's rows (see Drift).
	Drifts []Drift
	// Failing is the cells of the new set, within the filter, that did
	// not run cleanly: a repetition that lost data, timed out, could not
	// set up its fault, or met an error with no fault injected. Their
	// rows may be missing or rest on the repetitions that passed.
	Failing []string
}

// Geomean is the summary row of a unit's rows in one package.
type Geomean struct {
	Unit     string
	Pkg      string // the rows' pkg: configuration; "" where there is none
	Old, New float64
	Ratio    float64 // the geometric mean of the rows' new/old ratios
	Rows     int
}

// MissingRow is a row of a unit that only one side has.
type MissingRow struct {
	Unit, Row string
	// OnlyIn is "old" (the new side lost it: a benchmark removed, or one
	// that started failing) or "new" (a benchmark added).
	OnlyIn string
}

// Interleaved reports whether old and cur are the two sides of one
// interleaved run (spillbench ab or calibrate): directory by directory,
// the same lockstep token on both sides, and no failed repetition on
// either. Only then are the i-th repetitions of a cell neighbours in
// time, and comparable as a pair: results.txt holds the repetitions that
// passed, so a failure on one side would shift its partners.
func Interleaved(old, cur *Set) bool {
	if len(old.Dirs) == 0 || len(old.Dirs) != len(cur.Dirs) {
		return false
	}
	for i, a := range old.Dirs {
		b := cur.Dirs[i]
		if a.Plain || b.Plain || a.Env.Lockstep == "" || a.Env.Lockstep != b.Env.Lockstep || a.Path == b.Path || a.Env.Failed+b.Env.Failed > 0 {
			return false
		}
	}
	return true
}

// ComparedRow is one benchmark and unit compared.
type ComparedRow struct {
	Unit string
	Change
	// Regression: significant after Holm-Bonferroni over every row
	// compared, worse, and beyond the threshold. The raw p-value alone
	// would flag one A/A row in twenty at alpha 0.05.
	Regression bool
}

// Regressions returns the rows that regressed.
func (c Comparison) Regressions() []ComparedRow {
	var rs []ComparedRow
	for _, r := range c.Rows {
		if r.Regression {
			rs = append(rs, r)
		}
	}
	return rs
}

// Lost is the rows the new side does not have: what a gate must not
// pass without a word, since a benchmark that starts failing drops out.
func (c Comparison) Lost() []MissingRow {
	var ms []MissingRow
	for _, m := range c.Missing {
		if m.OnlyIn == "old" {
			ms = append(ms, m)
		}
	}
	return ms
}

// Blind reports whether no row compared could show any change: too few
// runs for any p-value to pass Holm-Bonferroni over them all. Such a
// comparison prints `~` whatever happened.
func (c Comparison) Blind() bool {
	for _, r := range c.Rows {
		if !math.IsInf(r.MinChange, 1) {
			return false
		}
	}
	return len(c.Rows) > 0
}

// CompareOptions says how CompareSets judges a change.
type CompareOptions struct {
	Alpha     float64 // the significance level; DefaultAlpha if 0
	Threshold float64 // the relative change a regression must exceed, e.g. 0.05
	// Drift takes out of each row of a time unit the change all its rows
	// share (see Drift), where the sides were not run interleaved.
	Drift bool
}

// Drift is what every row of a time unit shares in a comparison of runs
// made apart: the median of the rows' ratios of centers. Two runs of the
// same binary minutes apart on a 2-core VM land up to 15% apart in every
// cell alike; against that, a change one cell makes is invisible unless
// it is measured relative to the others. The cost is stated beside it: a
// change that moves every row alike is indistinguishable from drift, and
// only an interleaved comparison (spillbench ab) can tell the two apart.
type Drift struct {
	Unit   string
	Ratio  float64 // the median ratio of the rows, new/old
	Lo, Hi float64 // its 95% interval, by order statistics
	Rows   int
}

// String says what the drift was and what it costs, in one line.
func (d Drift) String() string {
	return fmt.Sprintf("drift: every %s row moved %s together (median of %d rows, 95%% interval %s to %s); each row's change is judged relative to it, so a change that moves every row alike cannot be seen here: compare interleaved with spillbench ab, or pass --drift=false",
		d.Unit, signedPercent(d.Ratio), d.Rows, signedPercent(d.Lo), signedPercent(d.Hi))
}

// MinDriftRows is the fewest rows a unit needs for its drift to be
// estimated: with fewer, a change in one or two rows would move the
// median it is judged against.
const MinDriftRows = 6

// driftUnit reports whether unit measures time, which the machine's
// speed moves: sec/op, *ns/op and rates per second. Counts (bytes,
// reloads) do not drift.
func driftUnit(unit string) bool {
	return unit == "sec/op" || strings.HasSuffix(unit, "ns/op") || strings.HasSuffix(unit, "/s")
}

// rowPair is a row both sides of a comparison have.
type rowPair struct {
	name     string
	old, cur *Cell
}

// joinRows joins two one-column tables of unit by row name: the rows
// both have, and those only one has.
func joinRows(unit string, a, b *Table) (pairs []rowPair, missing []MissingRow) {
	olds := map[string]*Cell{}
	for i, r := range a.Rows {
		olds[r.StringValues()] = a.Cells[i][0]
	}
	news := map[string]bool{}
	for j, r := range b.Rows {
		name := r.StringValues()
		news[name] = true
		if o := olds[name]; o != nil {
			pairs = append(pairs, rowPair{name, o, b.Cells[j][0]})
		} else {
			missing = append(missing, MissingRow{Unit: unit, Row: name, OnlyIn: "new"})
		}
	}
	for _, r := range a.Rows {
		if name := r.StringValues(); !news[name] {
			missing = append(missing, MissingRow{Unit: unit, Row: name, OnlyIn: "old"})
		}
	}
	return pairs, missing
}

// estimateDrift is the drift of unit's rows: the median ratio of their
// centers, from MinDriftRows rows or more.
func estimateDrift(unit string, pairs []rowPair) (Drift, bool) {
	var ratios []float64
	for _, p := range pairs {
		if p.old.Summary.Center > 0 && p.cur.Summary.Center > 0 && !p.old.exact() && !p.cur.exact() {
			ratios = append(ratios, p.cur.Summary.Center/p.old.Summary.Center)
		}
	}
	if len(ratios) < MinDriftRows {
		return Drift{}, false
	}
	smp := benchmath.NewSample(ratios, &benchmath.DefaultThresholds)
	sum := benchmath.AssumeNothing.Summary(smp, 0.95)
	return Drift{Unit: unit, Ratio: sum.Center, Lo: sum.Lo, Hi: sum.Hi, Rows: len(ratios)}, true
}

// CompareSets compares old with new for each unit (every unit both sides
// have, if units is empty), row by benchmark name, keeping the results
// filter keeps (all, if it is empty).
func CompareSets(old, cur *Set, units []string, filter string, opt CompareOptions) (Comparison, error) {
	alpha := opt.Alpha
	if alpha <= 0 {
		alpha = DefaultAlpha
	}
	if len(units) == 0 {
		units = commonUnits(old, cur)
	}
	cmp := Comparison{Alpha: alpha, Threshold: opt.Threshold, Paired: Interleaved(old, cur), Units: units,
		Higher: map[string]bool{}}
	pkgs := cur.packages()
	var all []Change
	var allUnits []string
	for _, unit := range units {
		a, err := Summarize(old, Query{Filter: filter, Unit: unit, Alpha: alpha})
		if err != nil {
			return cmp, err
		}
		b, err := Summarize(cur, Query{Filter: filter, Unit: unit, Alpha: alpha})
		if err != nil {
			return cmp, err
		}
		higher := old.HigherIsBetter(unit) || cur.HigherIsBetter(unit)
		cmp.Higher[unit] = higher
		pairs, missing := joinRows(unit, a, b)
		cmp.Missing = append(cmp.Missing, missing...)
		drift := 1.0
		if opt.Drift && !cmp.Paired && driftUnit(unit) {
			if d, ok := estimateDrift(unit, pairs); ok {
				drift = d.Ratio
				cmp.Drifts = append(cmp.Drifts, d)
			}
		}
		var gms []*Geomean // in the order of their first row
		for _, p := range pairs {
			var c Change
			switch {
			case cmp.Paired:
				c = comparePaired(p.name, p.old, p.cur, higher, alpha)
			case drift != 1:
				// The new side's values over the drift, compared as
				// benchstat would; the row still shows what was measured.
				c = compareCells(p.name, p.old, p.cur.scaled(1/drift), higher, alpha)
				c.New, c.Drifted = p.cur, true
			default:
				c = compareCells(p.name, p.old, p.cur, higher, alpha)
			}
			all = append(all, c)
			allUnits = append(allUnits, unit)
			i := slices.IndexFunc(gms, func(g *Geomean) bool { return g.Pkg == pkgs[p.name] })
			if i < 0 {
				gms = append(gms, &Geomean{Unit: unit, Pkg: pkgs[p.name]})
				i = len(gms) - 1
			}
			gms[i].add(p.old.Summary.Center, p.cur.Summary.Center)
		}
		for _, g := range gms {
			cmp.Geomeans = append(cmp.Geomeans, g.done())
		}
	}
	holm(all)
	detectable(all)
	for i, c := range all {
		reg := c.Holm && c.Worse && math.Abs(c.Ratio-1) > opt.Threshold
		cmp.Rows = append(cmp.Rows, ComparedRow{Unit: allUnits[i], Change: c, Regression: reg})
	}
	// A unit no row has (items/s of an external target, which counts
	// no items) is left out rather than printed as an empty table.
	if len(all) > 0 {
		cmp.Units = slices.DeleteFunc(slices.Clone(cmp.Units), func(u string) bool { return !slices.Contains(allUnits, u) })
	}
	failing, err := cur.FailingCells(filter)
	cmp.Failing = failing
	return cmp, err
}

// add takes one row's centers into the geometric means, in logs. As in
// benchstat, 0/0 counts as no change; a row with a zero on one side only
// leaves the ratio undefined, and a center that is not positive the
// means (NaN).
func (g *Geomean) add(old, cur float64) {
	g.Rows++
	g.Old += logOrNaN(old)
	g.New += logOrNaN(cur)
	switch {
	case old == cur:
	case old == 0 || cur == 0:
		g.Ratio = math.NaN()
	default:
		g.Ratio += math.Log(cur / old)
	}
}

func logOrNaN(v float64) float64 {
	if v <= 0 {
		return math.NaN()
	}
	return math.Log(v)
}

func (g Geomean) done() Geomean {
	n := float64(g.Rows)
	return Geomean{Unit: g.Unit, Pkg: g.Pkg, Old: math.Exp(g.Old / n), New: math.Exp(g.New / n), Ratio: math.Exp(g.Ratio / n), Rows: g.Rows}
}

// packages maps each benchmark's full name to its pkg: configuration.
func (s *Set) packages() map[string]string {
	m := map[string]string{}
	for _, r := range s.Results() {
		m[string(r.Name.Full())] = r.GetConfig("pkg")
	}
	return m
}

// geomeans is the summary rows of unit, each with its label: "geomean",
// or "geomean PKG" where the unit's rows span packages.
func (c Comparison) geomeans(unit string) (gs []Geomean, labels []string) {
	for _, g := range c.Geomeans {
		if g.Unit == unit {
			gs = append(gs, g)
		}
	}
	for _, g := range gs {
		l := "geomean"
		if len(gs) > 1 {
			l += " " + g.Pkg
		}
		labels = append(labels, l)
	}
	return gs, labels
}

// scaled prints the two geometric means each with its own SI scale, as
// benchstat does.
func (g Geomean) scaled(unit string) (old, cur string) {
	class := benchunit.ClassOf(unit)
	f := func(v float64) string {
		if math.IsNaN(v) {
			return "-" // benchstat: summaries must be >0 to compute geomean
		}
		return benchunit.Scale(v, class) + timeSuffix(unit)
	}
	return f(g.Old), f(g.New)
}

// commonUnits is every unit both sets have, in the order old first has
// them.
func commonUnits(old, cur *Set) []string {
	has := map[string]bool{}
	for _, r := range cur.Results() {
		for _, v := range r.Values {
			has[v.Unit] = true
		}
	}
	var units []string
	for _, r := range old.Results() {
		for _, v := range r.Values {
			if has[v.Unit] && !slices.Contains(units, v.Unit) {
				units = append(units, v.Unit)
			}
		}
	}
	return units
}

// FailingCells lists the cells of the set's result directories, kept by
// filter, with a repetition that did not run cleanly (see
// Comparison.Failing), in name order.
func (s *Set) FailingCells(filter string) ([]string, error) {
	var f *benchproc.Filter
	if filter != "" {
		var err error
		if f, err = benchproc.NewFilter(filter); err != nil {
			return nil, fmt.Errorf("filter %q: %v", filter, err)
		}
	}
	var cells []string
	for _, o := range s.Outcomes() {
		// An interrupted repetition recorded nothing to compare; the
		// directory says it is incomplete.
		bad := o.Failed() && o.Status != "interrupted"
		if !bad || slices.Contains(cells, o.Cell) {
			continue
		}
		if f != nil {
			r := &benchfmt.Result{Name: benchfmt.Name(o.Cell), Values: []benchfmt.Value{{Value: 1, Unit: "sec/op"}}}
			if m, _ := f.Match(r); !m.Test(0) {
				continue
			}
		}
		cells = append(cells, o.Cell)
	}
	slices.Sort(cells)
	return cells, nil
}

// drift is the drift taken out of unit's rows, if any was.
func (c Comparison) drift(unit string) (Drift, bool) {
	i := slices.IndexFunc(c.Drifts, func(d Drift) bool { return d.Unit == unit })
	if i < 0 {
		return Drift{}, false
	}
	return c.Drifts[i], true
}

// how says how the rows were compared, if not as benchstat does.
func (c Comparison) how() string {
	if c.Paired {
		return " (pair by pair: the runs were interleaved; signed-rank test, Hodges-Lehmann change)"
	}
	return ""
}

// sizes is the sample sizes behind a row, as benchstat prints them:
// "n=12", "n=12+11", or "12 pairs".
func (r ComparedRow) sizes() string {
	n1, n2 := len(r.Old.Sample.Values), len(r.New.Sample.Values)
	switch {
	case r.Paired:
		return fmt.Sprintf("%d pairs", len(r.Old.Recorded))
	case n1 == n2:
		return fmt.Sprintf("n=%d", n1)
	}
	return fmt.Sprintf("n=%d+%d", n1, n2)
}

// scaled prints a row's two centers with one SI scale between them, to
// four significant digits, as benchstat does.
func (r ComparedRow) scaled() (old, cur string) {
	sc := benchunit.CommonScale([]float64{r.Old.Summary.Center, r.New.Summary.Center}, benchunit.ClassOf(r.Unit))
	return sc.Format(r.Old.Summary.Center) + timeSuffix(r.Unit), sc.Format(r.New.Summary.Center) + timeSuffix(r.Unit)
}

// footnotes numbers the distinct warnings of the rows, as benchstat's
// superscripts do.
type footnotes struct{ list []string }

// mark returns the superscripts of ws, adding new ones to the list.
func (f *footnotes) mark(ws []string) string {
	var b strings.Builder
	for _, w := range ws {
		i := slices.Index(f.list, w)
		if i < 0 {
			f.list = append(f.list, w)
			i = len(f.list) - 1
		}
		b.WriteString(superscript(i + 1))
	}
	return b.String()
}

func superscript(n int) string {
	const digits = "⁰¹²³⁴⁵⁶⁷⁸⁹"
	var out []rune
	for _, d := range strconv.Itoa(n) {
		out = append(out, []rune(digits)[d-'0'])
	}
	return string(out)
}

// notes is a row's warnings: benchmath's, and one when the samples are
// too small for any change to be significant.
func (r ComparedRow) notes() []string {
	ws := r.Warnings
	if math.IsInf(r.MinChange, 1) {
		if r.RunsToSee > 0 {
			ws = append(ws, fmt.Sprintf("with %s no change can be significant; it takes at least %d runs a side", r.sizes(), r.RunsToSee))
		} else {
			ws = append(ws, fmt.Sprintf("with %s no change can be significant after Holm-Bonferroni over every row; record more runs", r.sizes()))
		}
	}
	return ws
}

// resolution says how small a change the comparison could see: the median
// and the largest minimum detectable change over its rows.
func (c Comparison) resolution() string {
	var mins []float64
	for _, r := range c.Rows {
		mins = append(mins, r.MinChange)
	}
	if len(mins) == 0 {
		return "nothing compared"
	}
	slices.Sort(mins)
	return fmt.Sprintf("this comparison could see changes of %s in a typical row (%s in the least certain)",
		FormatChange(mins[len(mins)/2]), FormatChange(mins[len(mins)-1]))
}

// FormatChange prints a minimum detectable change: "≥2.1%"; "any change"
// for a quantity with no noise; "nothing" where no change could be
// significant.
func FormatChange(c float64) string {
	switch {
	case math.IsInf(c, 1) || math.IsNaN(c):
		return "nothing"
	case c == 0:
		return "any change"
	}
	return "≥" + formatPercent(c)
}

// formatPercent prints a share as a percentage with the precision it
// needs: 0.4%, 2.1%, 12%.
func formatPercent(f float64) string {
	switch p := 100 * f; {
	case p == 0:
		return "0%"
	case p < 10:
		return strconv.FormatFloat(p, 'f', 1, 64) + "%"
	default:
		return strconv.FormatFloat(p, 'f', 0, 64) + "%"
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// timeSuffix completes a scaled time ("52.00m") with its unit.
func timeSuffix(unit string) string {
	if unit == "sec/op" {
		return "s"
	}
	return ""
}

// formatGeomeanChange prints the geomean ratio as benchstat does: always
// a percentage, never `~`; "?" where a ratio was undefined.
func formatGeomeanChange(g Geomean) string {
	if math.IsNaN(g.Ratio) {
		return "?"
	}
	return fmt.Sprintf("%+.2f%%", 100*(g.Ratio-1))
}

// Labels name the two sides in tables: the inputs as given.
func (c *Comparison) labels() (string, string) {
	if c.OldLabel == "" {
		return "old", "new"
	}
	return c.OldLabel, c.NewLabel
}

// verdict is the gate's sentence: what was compared, what regressed,
// what could not be compared.
func (c Comparison) verdict() string {
	return fmt.Sprintf("%d compared%s, %d regressed by more than %s at alpha %g after Holm-Bonferroni; %s",
		len(c.Rows), c.how(), len(c.Regressions()), formatPercent(c.Threshold), c.Alpha, c.resolution())
}

// Write renders the comparison as text, csv, json or markdown.
func (c Comparison) Write(w io.Writer, format string) error {
	switch format {
	case "text":
		return c.writeText(w)
	case "csv":
		return c.writeCSV(w)
	case "json":
		return c.writeJSON(w)
	case "markdown":
		return c.writeMarkdown(w)
	}
	return fmt.Errorf("format %q: use text, csv, json or markdown", format)
}

// writeText writes a table per unit in benchstat's layout (center ± the
// interval's half width, the change with p and n), with what benchstat
// lacks beside it: the smallest change the row could see and the gate's
// verdict, then the footnotes, the rows on one side only and the cells
// that failed.
func (c Comparison) writeText(w io.Writer) error {
	var notes footnotes
	oldLabel, newLabel := c.labels()
	for i, unit := range c.Units {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		if i > 0 {
			fmt.Fprintln(w)
		}
		better := "lower is better"
		if c.Higher[unit] {
			better = "higher is better"
		}
		fmt.Fprintf(w, "%s (%s)\n", unit, better)
		if d, ok := c.drift(unit); ok {
			fmt.Fprintf(w, "%s\n", d)
		}
		// tabwriter aligns every column alike: pad the names to one
		// width so they read left-aligned, as benchstat's do.
		width := 0
		_, labels := c.geomeans(unit)
		for _, l := range labels {
			width = max(width, len(l))
		}
		for _, r := range c.Rows {
			if r.Unit == unit {
				width = max(width, len(r.Row))
			}
		}
		fmt.Fprintf(tw, "%-*s\t%s\t\t%s\t\t\t\t\t\n", width, "", oldLabel, newLabel)
		rows := 0
		for _, r := range c.Rows {
			if r.Unit != unit {
				continue
			}
			rows++
			o, n := r.scaled()
			mark := ""
			if r.Regression {
				mark = "REGRESSION"
			}
			fmt.Fprintf(tw, "%-*s\t%s\t± %s\t%s\t± %s\t%s\t(p=%.3f %s)\tsees %s\t%s%s\t\n", width, r.Row, o, r.Old.Summary.PctRangeString(),
				n, r.New.Summary.PctRangeString(), r.Delta, r.P, r.sizes(), FormatChange(r.MinChange), mark, notes.mark(r.notes()))
		}
		gs, labels := c.geomeans(unit)
		for i, g := range gs {
			if rows > 1 {
				o, n := g.scaled(unit)
				fmt.Fprintf(tw, "%-*s\t%s\t\t%s\t\t%s\t\t\t\t\n", width, labels[i], o, n, formatGeomeanChange(g))
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for i, n := range notes.list {
		fmt.Fprintf(w, "%s %s\n", superscript(i+1), n)
	}
	for _, m := range c.Missing {
		fmt.Fprintf(w, "only in %s: %s %s\n", m.OnlyIn, m.Row, m.Unit)
	}
	for _, f := range c.Failing {
		fmt.Fprintf(w, "failing: %s did not run cleanly in the new results (see its outcomes.jsonl)\n", f)
	}
	fmt.Fprintln(w, c.verdict())
	for _, r := range c.Regressions() {
		fmt.Fprintf(w, "regression: %s %s %s (p=%.3f)\n", r.Row, r.Unit, r.Delta, r.P)
	}
	return nil
}

func (c Comparison) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"benchmark", "unit", "old", "new", "delta", "p", "n_old", "n_new", "holm", "regression", "min_detectable", "only_in", "warnings"})
	for _, r := range c.Rows {
		cw.Write([]string{r.Row, r.Unit, fmt.Sprint(r.Old.Summary.Center), fmt.Sprint(r.New.Summary.Center), r.Delta,
			fmt.Sprintf("%.4f", r.P), fmt.Sprint(len(r.Old.Sample.Values)), fmt.Sprint(len(r.New.Sample.Values)), fmt.Sprint(r.Holm), fmt.Sprint(r.Regression),
			fmt.Sprint(r.MinChange), "", strings.Join(r.notes(), "; ")})
	}
	for _, unit := range c.Units {
		gs, labels := c.geomeans(unit)
		for i, g := range gs {
			cw.Write([]string{labels[i], unit, fmt.Sprint(g.Old), fmt.Sprint(g.New), formatGeomeanChange(g), "", "", "", "", "", "", "", ""})
		}
	}
	for _, m := range c.Missing {
		cw.Write([]string{m.Row, m.Unit, "", "", "", "", "", "", "", "", "", m.OnlyIn, ""})
	}
	cw.Flush()
	return cw.Error()
}

func (c Comparison) writeJSON(w io.Writer) error {
	type row struct {
		Benchmark  string  `json:"benchmark"`
		Unit       string  `json:"unit"`
		Old        float64 `json:"old"`
		New        float64 `json:"new"`
		Delta      string  `json:"delta"`
		P          float64 `json:"p"`
		Holm       bool    `json:"holm"`
		Regression bool    `json:"regression"`
		// MinDetectable is null where no change could be seen.
		MinDetectable *float64 `json:"min_detectable"`
		Warnings      []string `json:"warnings,omitempty"`
	}
	type geomean struct {
		Unit  string   `json:"unit"`
		Pkg   string   `json:"pkg,omitempty"`
		Old   *float64 `json:"old"`
		New   *float64 `json:"new"`
		Ratio *float64 `json:"ratio"`
		Rows  int      `json:"rows"`
	}
	rows := []row{}
	for _, r := range c.Rows {
		var md *float64
		if !math.IsInf(r.MinChange, 0) {
			md = &r.MinChange
		}
		rows = append(rows, row{r.Row, r.Unit, r.Old.Summary.Center, r.New.Summary.Center, r.Delta, r.P, r.Holm, r.Regression, md, r.notes()})
	}
	finite := func(v float64) *float64 {
		if math.IsNaN(v) {
			return nil
		}
		return &v
	}
	gms := []geomean{}
	for _, g := range c.Geomeans {
		gms = append(gms, geomean{g.Unit, g.Pkg, finite(g.Old), finite(g.New), finite(g.Ratio), g.Rows})
	}
	type missing struct {
		Benchmark string `json:"benchmark"`
		Unit      string `json:"unit"`
		OnlyIn    string `json:"only_in"`
	}
	ms := []missing{}
	for _, m := range c.Missing {
		ms = append(ms, missing{m.Row, m.Unit, m.OnlyIn})
	}
	type drift struct {
		Unit  string  `json:"unit"`
		Ratio float64 `json:"ratio"`
		Lo    float64 `json:"lo"`
		Hi    float64 `json:"hi"`
		Rows  int     `json:"rows"`
	}
	drifts := []drift{}
	for _, d := range c.Drifts {
		drifts = append(drifts, drift(d))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"alpha": c.Alpha, "threshold": c.Threshold, "paired": c.Paired, "drift": drifts, "rows": rows, "geomean": gms,
		"missing": ms, "failing": append([]string{}, c.Failing...), "regressions": len(c.Regressions()), "blind": c.Blind()})
}

func (c Comparison) writeMarkdown(w io.Writer) error {
	regs := c.Regressions()
	verdict := "no significant regression"
	if len(regs) > 0 {
		verdict = fmt.Sprintf("**%d regression(s)**", len(regs))
	}
	if lost := len(c.Lost()) + len(c.Failing); lost > 0 {
		verdict += fmt.Sprintf(", **%d benchmark(s) missing or failing**", lost)
	}
	fmt.Fprintf(w, "### spillbench comparison: %s\n\n", verdict)
	fmt.Fprintf(w, "Alpha %g after Holm-Bonferroni over all %d rows%s, threshold %s; `~` is no significant change, as benchstat prints it. %s.\n\n",
		c.Alpha, len(c.Rows), c.how(), formatPercent(c.Threshold), upperFirst(c.resolution()))
	for _, d := range c.Drifts {
		fmt.Fprintf(w, "%s.\n\n", upperFirst(d.String()))
	}
	oldLabel, newLabel := c.labels()
	fmt.Fprintf(w, "| benchmark | unit | %s | %s | change | p | could see |\n|---|---|--:|--:|--:|--:|--:|\n", oldLabel, newLabel)
	var notes footnotes
	for _, unit := range c.Units {
		for _, r := range c.Rows {
			if r.Unit != unit {
				continue
			}
			change := r.Delta
			if r.Regression {
				change = "**" + change + "** :x:"
			}
			o, n := r.scaled()
			fmt.Fprintf(w, "| `%s` | %s | %s ± %s | %s ± %s | %s%s | %.3f %s | %s |\n", r.Row, r.Unit, o, r.Old.Summary.PctRangeString(),
				n, r.New.Summary.PctRangeString(), change, notes.mark(r.notes()), r.P, r.sizes(), FormatChange(r.MinChange))
		}
		gs, labels := c.geomeans(unit)
		for i, g := range gs {
			if g.Rows > 1 {
				o, n := g.scaled(unit)
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | | |\n", labels[i], unit, o, n, formatGeomeanChange(g))
			}
		}
	}
	if len(notes.list) > 0 {
		fmt.Fprintln(w)
		for i, n := range notes.list {
			fmt.Fprintf(w, "%s %s<br>\n", superscript(i+1), n)
		}
	}
	if len(c.Missing) > 0 || len(c.Failing) > 0 {
		fmt.Fprintf(w, "\n**Not compared:**\n\n")
		for _, m := range c.Missing {
			fmt.Fprintf(w, "- `%s` %s: only in %s\n", m.Row, m.Unit, m.OnlyIn)
		}
		for _, f := range c.Failing {
			fmt.Fprintf(w, "- `%s`: failing, did not run cleanly in the new results\n", f)
		}
	}
	return nil
}
