package reports

import (
	"fmt"
	"strings"
)

// granularitySection compares batch with per-item records cell by cell
// across the grid, with Holm-Bonferroni over all of them.
func granularitySection(d *doc, s *Set) {
	t, err := Summarize(s, Query{Filter: ".name:Engine /fault:none", Col: "/gran@(batch item)", Unit: "items/s"})
	if err != nil || len(t.Cols) < 2 {
		return
	}
	changes := Compare(t, s.HigherIsBetter("items/s"), DefaultAlpha)
	if len(changes) == 0 {
		return
	}
	d.h(3, "Batch against per-item records")
	survive := 0
	var names []string
	for _, c := range changes {
		names = append(names, c.Row)
	}
	cells, fixed := varyingKeys(names)
	var rows [][]string
	for i, c := range changes {
		holm := "no"
		if c.Holm {
			holm, survive = "yes", survive+1
		}
		rows = append(rows, []string{"`" + cells[i] + "`", formatValue(c.Old.Summary.Center, "items/s"), formatValue(c.New.Summary.Center, "items/s"), c.Delta, fmt.Sprintf("%.3f", c.P), holm})
	}
	d.p("Throughput of per-item records against batch records in each cell (items/s, medians); `~` where the difference is not significant at alpha 0.05, as benchstat prints it. %d of %d differences survive Holm-Bonferroni over all %d comparisons.", survive, len(changes), len(changes))
	allRows(d, fixed)
	d.t([]string{"cell", "batch", "item", "change", "p", "survives Holm"}, rows)
}

// shortFunc drops a function name's import path and any generic type
// arguments, which can themselves hold paths and slashes.
func shortFunc(f string) string {
	if i, j := strings.Index(f, "["), strings.LastIndex(f, "]"); i >= 0 && j > i {
		f = f[:i] + "[...]" + f[j+1:]
	}
	if i := strings.LastIndex(f, "/"); i >= 0 {
		f = f[i+1:]
	}
	return "`" + f + "`"
}
