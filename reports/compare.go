package reports

import (
	"encoding/csv"
	"text/tabwriter"

	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"
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

// CompareSets compares old with new for each unit (every unit both sides
// have, if units is empty), row by benchmark name, keeping the results
// filter keeps (all, if it is empty).
func CompareSets(old, cur *Set, units []string, filter string, alpha, threshold float64) (Comparison, error) {
	if alpha <= 0 {
		alpha = DefaultAlpha
	}
	if len(units) == 0 {
		units = commonUnits(old, cur)
	}
	cmp := Comparison{Alpha: alpha, Threshold: threshold, Paired: Interleaved(old, cur), Units: units,
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
		// Join the two one-column tables by row name.
		olds := map[string]*Cell{}
		for i, r := range a.Rows {
			olds[r.StringValues()] = a.Cells[i][0]
		}
		higher := old.HigherIsBetter(unit) || cur.HigherIsBetter(unit)
		cmp.Higher[unit] = higher
		var gms []*Geomean // in the order of their first row
		news := map[string]bool{}
		for j, r := range b.Rows {
			name := r.StringValues()
			news[name] = true
			o := olds[name]
			if o == nil {
				cmp.Missing = append(cmp.Missing, MissingRow{Unit: unit, Row: name, OnlyIn: "new"})
				continue
			}
			compare := compareCells
			if cmp.Paired {
				compare = comparePaired
			}
			c := compare(name, o, b.Cells[j][0], higher, alpha)
			all = append(all, c)
			allUnits = append(allUnits, unit)
			i := slices.IndexFunc(gms, func(g *Geomean) bool { return g.Pkg == pkgs[name] })
			if i < 0 {
				gms = append(gms, &Geomean{Unit: unit, Pkg: pkgs[name]})
				i = len(gms) - 1
			}
			gms[i].add(o.Summary.Center, c.New.Summary.Center)
		}
		for _, r := range a.Rows {
			if name := r.StringValues(); !news[name] {
				cmp.Missing = append(cmp.Missing, MissingRow{Unit: unit, Row: name, OnlyIn: "old"})
			}
		}
		for _, g := range gms {
			cmp.Geomeans = append(cmp.Geomeans, g.done())
		}
	}
	holm(all)
	detectable(all)
	for i, c := range all {
		reg := c.Holm && c.Worse && math.Abs(c.Ratio-1) > threshold
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
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"alpha": c.Alpha, "threshold": c.Threshold, "paired": c.Paired, "rows": rows, "geomean": gms,
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
