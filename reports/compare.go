package reports

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
)

// Comparison is every row of every unit compared between an old and a
// new set, Holm-Bonferroni applied across all of them.
type Comparison struct {
	Alpha     float64
	Threshold float64 // the relative change a regression must exceed, e.g. 0.05
	Rows      []ComparedRow
}

// ComparedRow is one benchmark and unit compared.
type ComparedRow struct {
	Unit string
	Change
	// Regression: significant (p < alpha), worse, and beyond the threshold.
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
	cmp := Comparison{Alpha: alpha, Threshold: threshold}
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
				all = append(all, compareCells(name, o, b.Cells[j][0], higher, alpha))
				allUnits = append(allUnits, unit)
			}
		}
	}
	holm(all)
	for i, c := range all {
		reg := c.P < alpha && c.Worse && math.Abs(c.Ratio-1) > threshold
		cmp.Rows = append(cmp.Rows, ComparedRow{Unit: allUnits[i], Change: c, Regression: reg})
	}
	return cmp, nil
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
			fmt.Fprintf(w, "%-10s %s: %s -> %s  %s (p=%.3f n=%d+%d)%s\n", r.Unit, r.Row,
				formatValue(r.Old.Summary.Center, r.Unit), formatValue(r.New.Summary.Center, r.Unit), r.Delta, r.P,
				len(r.Old.Sample.Values), len(r.New.Sample.Values), mark)
		}
		regs := c.Regressions()
		fmt.Fprintf(w, "%d compared, %d regressed by more than %.0f%% at alpha %g\n", len(c.Rows), len(regs), 100*c.Threshold, c.Alpha)
		for _, r := range regs {
			fmt.Fprintf(w, "regression: %s %s %s (p=%.3f)\n", r.Row, r.Unit, r.Delta, r.P)
		}
		return nil
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"benchmark", "unit", "old", "new", "delta", "p", "n_old", "n_new", "holm", "regression"})
		for _, r := range c.Rows {
			cw.Write([]string{r.Row, r.Unit, fmt.Sprint(r.Old.Summary.Center), fmt.Sprint(r.New.Summary.Center), r.Delta,
				fmt.Sprintf("%.4f", r.P), fmt.Sprint(len(r.Old.Sample.Values)), fmt.Sprint(len(r.New.Sample.Values)), fmt.Sprint(r.Holm), fmt.Sprint(r.Regression)})
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
		}
		var rows []row
		for _, r := range c.Rows {
			rows = append(rows, row{r.Row, r.Unit, r.Old.Summary.Center, r.New.Summary.Center, r.Delta, r.P, r.Holm, r.Regression})
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
		fmt.Fprintf(w, "Alpha %g, threshold %.0f%%; `~` is no significant change, as benchstat prints it.\n\n", c.Alpha, 100*c.Threshold)
		fmt.Fprintf(w, "| benchmark | unit | old | new | change | p |\n|---|---|---|---|---|---|\n")
		for _, r := range c.Rows {
			change := r.Delta
			if r.Regression {
				change = "**" + change + "** :x:"
			}
			fmt.Fprintf(w, "| `%s` | %s | %s | %s | %s | %.3f |\n", r.Row, r.Unit, formatValue(r.Old.Summary.Center, r.Unit), formatValue(r.New.Summary.Center, r.Unit), change, r.P)
		}
		return nil
	}
	return fmt.Errorf("format %q: use text, csv, json or markdown", format)
}
