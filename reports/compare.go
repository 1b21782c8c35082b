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
)

// Comparison is every row of every unit compared between an old and a
// new set, Holm-Bonferroni applied across all of them.
type Comparison struct {
	Alpha     float64
	Threshold float64 // the relative change a regression must exceed, e.g. 0.05
	// Paired: the sets were run interleaved, and each row compares its
	// repetitions pair by pair (see Interleaved).
	Paired bool
	Rows   []ComparedRow
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
		if a.Env.Lockstep == "" || a.Env.Lockstep != b.Env.Lockstep || a.Path == b.Path || a.Env.Failed+b.Env.Failed > 0 {
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

// CompareSets compares old with new for each unit, row by benchmark name
// (filtered by filter, if set).
func CompareSets(old, cur *Set, units []string, filter string, alpha, threshold float64) (Comparison, error) {
	if alpha <= 0 {
		alpha = DefaultAlpha
	}
	cmp := Comparison{Alpha: alpha, Threshold: threshold, Paired: Interleaved(old, cur)}
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
		for j, r := range b.Rows {
			name := r.StringValues()
			if o := olds[name]; o != nil && b.Cells[j][0] != nil {
				compare := compareCells
				if cmp.Paired {
					compare = comparePaired
				}
				all = append(all, compare(name, o, b.Cells[j][0], higher, alpha))
				allUnits = append(allUnits, unit)
			}
		}
	}
	holm(all)
	detectable(all)
	for i, c := range all {
		reg := c.Holm && c.Worse && math.Abs(c.Ratio-1) > threshold
		cmp.Rows = append(cmp.Rows, ComparedRow{Unit: allUnits[i], Change: c, Regression: reg})
	}
	return cmp, nil
}

// how says how the rows were compared, if not as benchstat does.
func (c Comparison) how() string {
	if c.Paired {
		return " (pair by pair: the runs were interleaved; signed-rank test, Hodges-Lehmann change)"
	}
	return ""
}

// sizes is the sample sizes behind a row: "n=12+12", or "12 pairs".
func (r ComparedRow) sizes() string {
	if r.Paired {
		return fmt.Sprintf("%d pairs", len(r.Old.Recorded))
	}
	return fmt.Sprintf("n=%d+%d", len(r.Old.Sample.Values), len(r.New.Sample.Values))
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

// Write renders the comparison as text, csv, json or markdown.
func (c Comparison) Write(w io.Writer, format string) error {
	switch format {
	case "text":
		for _, r := range c.Rows {
			mark := ""
			if r.Regression {
				mark = "  REGRESSION"
			}
			fmt.Fprintf(w, "%-10s %s: %s -> %s  %s (p=%.3f %s, sees %s)%s\n", r.Unit, r.Row,
				formatValue(r.Old.Summary.Center, r.Unit), formatValue(r.New.Summary.Center, r.Unit), r.Delta, r.P,
				r.sizes(), FormatChange(r.MinChange), mark)
		}
		regs := c.Regressions()
		fmt.Fprintf(w, "%d compared%s, %d regressed by more than %s at alpha %g after Holm-Bonferroni; %s\n",
			len(c.Rows), c.how(), len(regs), formatPercent(c.Threshold), c.Alpha, c.resolution())
		for _, r := range regs {
			fmt.Fprintf(w, "regression: %s %s %s (p=%.3f)\n", r.Row, r.Unit, r.Delta, r.P)
		}
		return nil
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"benchmark", "unit", "old", "new", "delta", "p", "n_old", "n_new", "holm", "regression", "min_detectable"})
		for _, r := range c.Rows {
			cw.Write([]string{r.Row, r.Unit, fmt.Sprint(r.Old.Summary.Center), fmt.Sprint(r.New.Summary.Center), r.Delta,
				fmt.Sprintf("%.4f", r.P), fmt.Sprint(len(r.Old.Sample.Values)), fmt.Sprint(len(r.New.Sample.Values)), fmt.Sprint(r.Holm), fmt.Sprint(r.Regression),
				fmt.Sprint(r.MinChange)})
		}
		cw.Flush()
		return cw.Error()
	case "json":
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
		}
		var rows []row
		for _, r := range c.Rows {
			var md *float64
			if !math.IsInf(r.MinChange, 0) {
				md = &r.MinChange
			}
			rows = append(rows, row{r.Row, r.Unit, r.Old.Summary.Center, r.New.Summary.Center, r.Delta, r.P, r.Holm, r.Regression, md})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"alpha": c.Alpha, "threshold": c.Threshold, "rows": rows, "regressions": len(c.Regressions())})
	case "markdown":
		regs := c.Regressions()
		verdict := "no significant regression"
		if len(regs) > 0 {
			verdict = fmt.Sprintf("**%d regression(s)**", len(regs))
		}
		fmt.Fprintf(w, "### spillbench comparison: %s\n\n", verdict)
		fmt.Fprintf(w, "Alpha %g after Holm-Bonferroni over all %d rows%s, threshold %s; `~` is no significant change, as benchstat prints it. %s.\n\n",
			c.Alpha, len(c.Rows), c.how(), formatPercent(c.Threshold), upperFirst(c.resolution()))
		fmt.Fprintf(w, "| benchmark | unit | old | new | change | p | could see |\n|---|---|---|---|---|---|---|\n")
		for _, r := range c.Rows {
			change := r.Delta
			if r.Regression {
				change = "**" + change + "** :x:"
			}
			fmt.Fprintf(w, "| `%s` | %s | %s | %s | %s | %.3f | %s |\n", r.Row, r.Unit, formatValue(r.Old.Summary.Center, r.Unit), formatValue(r.New.Summary.Center, r.Unit), change, r.P, FormatChange(r.MinChange))
		}
		return nil
	}
	return fmt.Errorf("format %q: use text, csv, json or markdown", format)
}
