package reports

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// The recommendation of a knob of the spill buffer (granularity,
// compression, reclaim) in the threshold-tuning document: each
// alternative against the knob's base value, cell by cell.

// knobRecommendation compares a knob's alternatives with its base value
// at the same other settings, over every engine cell without faults, and
// recommends by the knob's effects.
func knobRecommendation(s *Set, effects []knobEffect, key, base, name string) []string {
	values := keyValues(s, key)
	if len(values) < 2 {
		return []string{name, base, "only " + strings.Join(values, ", ") + " was measured"}
	}
	best, evidence := base, []string{}
	for _, alt := range values {
		if alt == base {
			continue
		}
		e, err := compareKnob(s, key, base, alt)
		if err != nil {
			evidence = append(evidence, fmt.Sprintf("%s vs %s: %v", alt, base, err))
			continue
		}
		e.fasterIn, e.slowerIn = effectCounts(effects, key, alt)
		evidence = append(evidence, e.String())
		if e.quicker() || best == base && e.lighter() {
			best = alt
		}
	}
	return []string{name, best, strings.Join(evidence, "; ")}
}

// knobEvidence is what the comparison of an alternative value of a knob
// with its base value found over the cells measured with both.
type knobEvidence struct {
	alt, base string
	cells     int // cells compared
	// Cells whose throughput differs by more than 5% after
	// Holm-Bonferroni, and of those how many are faster and slower.
	sig, faster, slower int
	raw                 int     // cells that differ by more than 5% before the correction
	sees                string  // the change a typical cell could see
	bytes, mem          float64 // disk bytes and peak buffered bytes, alt/base: geometric means, 0 for none
	// Workloads in which the alternative's effect (Knob effects) is real
	// and faster, or slower, by more than 5%.
	fasterIn, slowerIn int
}

// compareKnob compares alt with base, throughput first, then disk bytes
// and peak buffered memory, in every engine cell without faults.
func compareKnob(s *Set, key, base, alt string) (knobEvidence, error) {
	col := fmt.Sprintf("/%s@(%q %q)", key, base, alt)
	filter := fmt.Sprintf(".name:Engine /fault:none /%s:(%q OR %q)", key, base, alt)
	tab, err := Summarize(s, Query{Filter: filter, Col: col, Unit: "items/s"})
	if err != nil {
		return knobEvidence{}, err
	}
	e := throughputEvidence(Compare(tab, true, DefaultAlpha))
	e.alt, e.base = alt, base
	bytesRatio, memRatio := footprintRatios(s, filter, col)
	e.bytes, e.mem = geomean(bytesRatio), geomean(memRatio)
	return e, nil
}

// throughputEvidence counts the throughput changes of the cells compared
// that exceed 5%, after the correction and before it, and finds the
// median of their minimum detectable changes.
func throughputEvidence(changes []Change) knobEvidence {
	e := knobEvidence{cells: len(changes), sees: "nothing"}
	var mins []float64
	for _, c := range changes {
		mins = append(mins, c.MinChange)
		if c.P < DefaultAlpha && math.Abs(c.Ratio-1) > 0.05 {
			e.raw++
		}
		if c.Holm && math.Abs(c.Ratio-1) > 0.05 {
			e.sig++
			if c.Ratio > 1 {
				e.faster++
			} else {
				e.slower++
			}
		}
	}
	slices.Sort(mins)
	if len(mins) > 0 {
		e.sees = FormatChange(mins[len(mins)/2])
	}
	return e
}

// footprintRatios are, per cell, the alternative's disk bytes and peak
// buffered bytes as ratios to the base value's (the columns col of the
// cells filter keeps); a unit that cannot be summarized has none.
func footprintRatios(s *Set, filter, col string) (bytesRatio, memRatio []float64) {
	for _, unit := range []string{"spill-bytes/op", "peak-buffered-B"} {
		t, err := Summarize(s, Query{Filter: filter, Col: col, Unit: unit})
		if err != nil {
			continue
		}
		if unit == "spill-bytes/op" {
			bytesRatio = columnRatios(t)
		} else {
			memRatio = columnRatios(t)
		}
	}
	return bytesRatio, memRatio
}

// columnRatios is, for every row of t with both columns positive, its
// second column's center over its first's. A row where one side is zero
// (one knob value spilled nothing) has no ratio to average.
func columnRatios(t *Table) []float64 {
	var rs []float64
	for i := range t.Rows {
		if len(t.Cells[i]) < 2 || t.Cells[i][0] == nil || t.Cells[i][1] == nil || t.Cells[i][0].Summary.Center <= 0 || t.Cells[i][1].Summary.Center <= 0 {
			continue
		}
		rs = append(rs, t.Cells[i][1].Summary.Center/t.Cells[i][0].Summary.Center)
	}
	return rs
}

// quicker is rule (2)'s first arm: the alternative's effect is really
// faster in more workloads than it is really slower.
func (e knobEvidence) quicker() bool {
	return e.fasterIn > e.slowerIn
}

// lighter is rule (2)'s second arm: the alternative is really slower in
// no workload and cuts disk bytes or peak buffered memory by at least 20%.
func (e knobEvidence) lighter() bool {
	return e.slowerIn == 0 && ((e.bytes > 0 && e.bytes <= 0.8) || (e.mem > 0 && e.mem <= 0.8))
}

// String writes the evidence as the document's evidence column does.
func (e knobEvidence) String() string {
	return fmt.Sprintf("%s vs %s: really faster by more than 5%% in %d workloads, really slower in %d (Knob effects); cell by cell, in %d of %d cells throughput really differs by more than 5%% (%d faster, %d slower, after Holm-Bonferroni; %d before it), a typical cell could see a change of %s; disk bytes x%.2f, peak buffered x%.2f (geometric means)",
		e.alt, e.base, e.fasterIn, e.slowerIn, e.sig, e.cells, e.faster, e.slower, e.raw, e.sees, e.bytes, e.mem)
}
