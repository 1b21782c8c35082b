package reports

import (
	"fmt"
	"math"
)

// findingsSection derives the knee and the best cells from the tables.
func findingsSection(d *doc, s *Set, workloads []string) {
	d.h(2, "Findings")
	d.p("The knee of a strategy (the spill knobs other than the threshold) is the smallest threshold whose throughput is not significantly below that of its best threshold (Mann-Whitney U, alpha 0.05) or whose median is within 5%% of it, as in the threshold-tuning document; best cells are among engine cells without faults.")
	var rows [][]string
	unit := throughputUnit(s)
	for _, k := range strategyKnees(s, workloads) {
		rows = append(rows, []string{k.workload, k.strategy, formatBytes(k.at), formatValue(k.best, unit)})
	}
	if len(rows) > 0 {
		d.t([]string{"workload", "strategy", "knee threshold", "best median " + unit}, rows)
	}
	var best [][]string
	var bestNames []string
	for _, obj := range []struct {
		name, unit string
		higher     bool
	}{{"throughput", unit, true}, {"disk bytes", "spill-bytes/op", false}, {"peak memory (buffered)", "peak-buffered-B", false},
		{"peak memory (RSS)", "peak-rss-B", false}} {
		if obj.unit == "peak-rss-B" && unit == "items/s" {
			continue // the engine's own memory objective is the buffer's
		}
		for _, w := range workloads {
			t, err := Summarize(s, Query{Filter: fmt.Sprintf("%s /workload:%s /fault:none", targetCells, w), Unit: obj.unit})
			if err != nil || len(t.Rows) == 0 {
				continue
			}
			bi, bv := -1, 0.0
			for i := range t.Rows {
				c := t.Cells[i][0]
				if c == nil {
					continue
				}
				if v := c.Summary.Center; bi < 0 || (obj.higher && v > bv) || (!obj.higher && v < bv) {
					bi, bv = i, v
				}
			}
			if bi >= 0 {
				best = append(best, []string{obj.name, w, "", cellText(t.Cells[bi][0], obj.unit)})
				bestNames = append(bestNames, dropKey(t.Rows[bi].StringValues(), "workload"))
			}
		}
	}
	if len(best) > 0 {
		cells, fixed := varyingKeys(bestNames)
		for i := range best {
			best[i][2] = "`" + cells[i] + "`"
		}
		allRows(d, fixed)
		d.t([]string{"objective", "workload", "best cell", "median"}, best)
	}
}

func formatBytes(v float64) string {
	for _, u := range []struct {
		name string
		size float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v >= u.size && math.Mod(v, u.size) == 0 {
			return fmt.Sprintf("%.0f%s", v/u.size, u.name)
		}
	}
	return fmt.Sprintf("%.0fB", v)
}
