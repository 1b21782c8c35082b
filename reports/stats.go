package reports

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"
	"golang.org/x/perf/benchproc"
	"golang.org/x/perf/benchunit"
)

// Query selects and groups results the way benchstat's flags do.
type Query struct {
	Filter string // benchproc filter, e.g. ".name:Engine /fault:none"; empty keeps all
	Row    string // projection of a table's rows, e.g. ".name" (the default)
	Col    string // projection of its columns, e.g. "/gran"; empty is one column
	Unit   string // the tidied unit to summarize, e.g. "sec/op" or "items/s"
	Alpha  float64
}

// DefaultAlpha is benchstat's significance level.
const DefaultAlpha = 0.05

// Cell is one sample of a table: its values and their summary.
type Cell struct {
	Sample  *benchmath.Sample
	Summary benchmath.Summary
	// Recorded is the values in the order they were recorded (Sample's
	// are sorted): a paired comparison pairs them by position.
	Recorded []float64
	// Assumption is the statistics the unit's values take (the
	// inputs' assume= metadata): AssumeNothing or AssumeExact.
	Assumption benchmath.Assumption
}

// exact says the cell's unit has no noise (assume=exact).
// scaled is the cell with every value multiplied by f.
func (c *Cell) scaled(f float64) *Cell {
	vs := make([]float64, len(c.Recorded))
	for i, v := range c.Recorded {
		vs[i] = v * f
	}
	assume := c.Assumption
	if assume == nil {
		assume = benchmath.AssumeNothing
	}
	smp := benchmath.NewSample(slices.Clone(vs), c.Sample.Thresholds)
	return &Cell{Sample: smp, Summary: assume.Summary(smp, 0.95), Recorded: vs, Assumption: assume}
}

func (c *Cell) exact() bool { return c.Assumption == benchmath.Assumption(benchmath.AssumeExact) }

// Table is one unit's results grouped into rows and columns.
type Table struct {
	Unit string
	Rows []benchproc.Key
	Cols []benchproc.Key
	// Cells[row][col]; nil where that combination has no results.
	Cells [][]*Cell
}

// Summarize groups the set's results by the query's projections and
// summarizes each group with benchmath, median and 95% interval, making
// no distributional assumption, as benchstat does.
func Summarize(s *Set, q Query) (*Table, error) {
	var filter *benchproc.Filter
	var err error
	if q.Filter != "" {
		if filter, err = benchproc.NewFilter(q.Filter); err != nil {
			return nil, fmt.Errorf("filter %q: %v", q.Filter, err)
		}
	}
	var parser benchproc.ProjectionParser
	row := q.Row
	if row == "" {
		row = ".fullname"
	}
	rowProj, err := parser.Parse(row, filter)
	if err != nil {
		return nil, fmt.Errorf("row projection %q: %v", row, err)
	}
	colProj, err := parser.Parse(q.Col, filter)
	if err != nil {
		return nil, fmt.Errorf("column projection %q: %v", q.Col, err)
	}
	values := map[benchproc.Key]map[benchproc.Key][]float64{}
	var rows, cols []benchproc.Key
	for _, r := range s.Results() {
		v, ok := value(filter, r, q.Unit)
		if !ok {
			continue
		}
		rk, ck := rowProj.Project(r), colProj.Project(r)
		if values[rk] == nil {
			values[rk] = map[benchproc.Key][]float64{}
			rows = append(rows, rk)
		}
		if !slices.Contains(cols, ck) {
			cols = append(cols, ck)
		}
		values[rk][ck] = append(values[rk][ck], v)
	}
	benchproc.SortKeys(rows)
	benchproc.SortKeys(cols)
	t := &Table{Unit: q.Unit, Rows: rows, Cols: cols}
	thr := benchmath.DefaultThresholds
	if q.Alpha > 0 {
		thr.CompareAlpha = q.Alpha
	}
	assume := s.Assumption(q.Unit)
	for _, rk := range rows {
		line := make([]*Cell, len(cols))
		for i, ck := range cols {
			if vs := values[rk][ck]; len(vs) > 0 {
				// NewSample sorts its argument in place.
				smp := benchmath.NewSample(slices.Clone(vs), &thr)
				line[i] = &Cell{Sample: smp, Summary: assume.Summary(smp, 0.95), Recorded: vs, Assumption: assume}
			}
		}
		t.Cells = append(t.Cells, line)
	}
	return t, nil
}

// Change is the comparison of one row between two samples.
type Change struct {
	Row      string
	Old, New *Cell
	P        float64
	Delta    string  // benchstat's: "+12.34%", or "~" when not significant
	Ratio    float64 // new center / old center
	Alpha    float64
	Holm     bool // significant after Holm-Bonferroni over all changes compared together
	Paired   bool // compared pair by pair (interleaved runs): Ratio is the Hodges-Lehmann estimate
	// Drifted: the new side was compared over its unit's drift (see
	// Drift), so Ratio, Delta and P are relative to the other rows.
	Drifted   bool
	Worse     bool    // the change is in the unit's worse direction
	MinP      float64 // the smallest p-value these sample sizes can give
	RunsToSee int     // runs per side needed for any change to be significant, if MinP >= alpha
	// MinChange is the smallest relative change the comparison would
	// detect with 80% power (MinDetectable), at the level a lone change
	// must reach to survive Holm-Bonferroni over every row compared with
	// it: what `~` could have hidden. +Inf when no change could be seen.
	MinChange float64
	// Warnings are benchmath's about the samples, their summaries and
	// the comparison, which benchstat prints as footnotes: "need >= 6
	// samples for confidence interval at level 0.95", "all samples are
	// equal", "exact distribution expected, but values range ...".
	Warnings []string
}

// Compare compares column 0 with column 1 of each row of t (the old and
// new values, as benchstat does with -col), and applies Holm-Bonferroni
// across every row compared.
func Compare(t *Table, higherIsBetter bool, alpha float64) []Change {
	if alpha <= 0 {
		alpha = DefaultAlpha
	}
	var changes []Change
	for i, rk := range t.Rows {
		if len(t.Cols) < 2 || t.Cells[i][0] == nil || t.Cells[i][1] == nil {
			continue
		}
		changes = append(changes, compareCells(rk.StringValues(), t.Cells[i][0], t.Cells[i][1], higherIsBetter, alpha))
	}
	holm(changes)
	detectable(changes)
	return changes
}

// detectable fills in each change's MinChange, at the Holm level of a
// lone change among all of them.
func detectable(cs []Change) {
	for i := range cs {
		c := &cs[i]
		alpha := c.Alpha / float64(len(cs))
		if c.Old.exact() || c.New.exact() {
			c.MinChange = 0 // any change of an exact quantity shows
			continue
		}
		if d, ok := logRatios(c.Old.Recorded, c.New.Recorded); c.Paired && ok {
			c.MinChange = MinDetectablePaired(d, alpha, DefaultPower)
			continue
		}
		c.MinChange = MinDetectable(c.Old.Sample.Values, c.New.Sample.Values, alpha, DefaultPower)
	}
}

// compareCells compares one row's old and new samples.
func compareCells(row string, old, cur *Cell, higherIsBetter bool, alpha float64) Change {
	var assume benchmath.Assumption = benchmath.AssumeNothing
	if old.exact() || cur.exact() {
		assume = benchmath.AssumeExact
	}
	cmp := assume.Compare(old.Sample, cur.Sample)
	c := Change{Row: row, Old: old, New: cur, P: cmp.P, Alpha: alpha,
		Delta: cmp.FormatDelta(old.Summary.Center, cur.Summary.Center)}
	c.Warnings = warnings(old.Sample.Warnings, old.Summary.Warnings, cur.Sample.Warnings, cur.Summary.Warnings, cmp.Warnings)
	if old.Summary.Center != 0 {
		c.Ratio = cur.Summary.Center / old.Summary.Center
	}
	c.Worse = (c.Ratio < 1) == higherIsBetter && c.Ratio != 1
	c.MinP = MinPValue(len(old.Sample.Values), len(cur.Sample.Values))
	if old.exact() || cur.exact() {
		c.MinP = 0
	}
	if c.MinP >= alpha {
		c.RunsToSee = RunsNeeded(alpha)
	}
	return c
}

// comparePaired compares one row's old and new samples pair by pair:
// the values recorded i-th on each side ran moments apart. It falls back
// to compareCells where the samples do not pair (a repetition failed on
// one side only).
func comparePaired(row string, old, cur *Cell, higherIsBetter bool, alpha float64) Change {
	d, ok := logRatios(old.Recorded, cur.Recorded)
	if !ok || len(d) < 2 || old.exact() || cur.exact() {
		return compareCells(row, old, cur, higherIsBetter, alpha)
	}
	c := Change{Row: row, Old: old, New: cur, P: signedRankP(d), Alpha: alpha, Paired: true,
		Ratio: math.Exp(hodgesLehmann(d))}
	c.Delta = "~"
	if c.P < alpha {
		c.Delta = fmt.Sprintf("%+.2f%%", 100*(c.Ratio-1))
	}
	c.Worse = (c.Ratio < 1) == higherIsBetter && c.Ratio != 1
	c.MinP = 2 * signedRankCounts(len(d))[0] // every pair on one side
	if c.MinP >= alpha {
		c.RunsToSee = pairsNeeded(alpha)
	}
	return c
}

// warnings lists benchmath's warnings once each, in order.
func warnings(lists ...[]error) []string {
	var out []string
	for _, l := range lists {
		for _, w := range l {
			if !slices.Contains(out, w.Error()) {
				out = append(out, w.Error())
			}
		}
	}
	return out
}

// pairsNeeded is the fewest pairs with which a signed-rank test at alpha
// can be significant at all.
func pairsNeeded(alpha float64) int {
	n := 2
	for 2*signedRankCounts(n)[0] >= alpha && n < signedRankExactLimit {
		n++
	}
	return n
}

// holm marks which changes stay significant under Holm-Bonferroni: sorted
// by p, the k-th smallest (from 0) must be below alpha/(m-k), stopping at
// the first that is not.
func holm(cs []Change) {
	idx := make([]int, len(cs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return cs[idx[a]].P < cs[idx[b]].P })
	m := len(cs)
	for k, i := range idx {
		if cs[i].P >= cs[i].Alpha/float64(m-k) {
			break
		}
		cs[i].Holm = true
	}
}

// MinPValue is the smallest two-sided p-value a Mann-Whitney U test can
// give with samples of n1 and n2 values: when every value of one side
// lies below every value of the other, p = 2 / C(n1+n2, n1). With four
// runs a side that is 2/70, about 0.029.
func MinPValue(n1, n2 int) float64 {
	if n1 == 0 || n2 == 0 {
		return 1
	}
	// C(n1+n2, n1) in logs, to stay finite for large samples.
	lc, _ := math.Lgamma(float64(n1 + n2 + 1))
	l1, _ := math.Lgamma(float64(n1 + 1))
	l2, _ := math.Lgamma(float64(n2 + 1))
	return math.Min(1, 2/math.Exp(lc-l1-l2))
}

// RunsNeeded is the fewest runs per side with which a test at alpha can
// be significant at all.
func RunsNeeded(alpha float64) int {
	n := 2
	for MinPValue(n, n) >= alpha && n < 1000 {
		n++
	}
	return n
}

// formatValue writes v to four significant digits with an SI prefix,
// as benchstat does, and a time with its unit: "17.48ms", "93.08k".
func formatValue(v float64, unit string) string {
	return benchunit.Scale(v, benchunit.ClassOf(unit)) + timeSuffix(unit)
}

// HigherIsBetter says which way unit improves: from the inputs' unit
// metadata (better=higher or lower) first, then benchfmt's defaults, then
// the conventions of Go benchmark units: a rate (B/s, ops/s, items/s:
// anything per second) is better higher; anything else (sec/op, B/op,
// allocs/op, a size) lower.
func (s *Set) HigherIsBetter(unit string) bool {
	for _, d := range s.Dirs {
		switch d.Units.GetBetter(unit) {
		case 1:
			return true
		case -1:
			return false
		}
	}
	return strings.HasSuffix(unit, "/s")
}

// Assumption is the statistics unit's values take: benchmath's
// AssumeExact where any input says assume=exact (a quantity with no
// noise, such as a binary's size), otherwise AssumeNothing, as benchstat.
func (s *Set) Assumption(unit string) benchmath.Assumption {
	for _, d := range s.Dirs {
		if d.Units.Get(unit, "assume") != nil {
			return d.Units.GetAssumption(unit)
		}
	}
	return benchmath.AssumeNothing
}

// value returns r's value in unit if filter (nil keeps everything) keeps
// it. It never changes r: benchproc's Filter.Apply would.
func value(filter *benchproc.Filter, r *benchfmt.Result, unit string) (float64, bool) {
	for i, v := range r.Values {
		if v.Unit != unit {
			continue
		}
		if filter != nil {
			m, _ := filter.Match(r)
			if !m.Test(i) {
				return 0, false
			}
		}
		return v.Value, true
	}
	return 0, false
}
