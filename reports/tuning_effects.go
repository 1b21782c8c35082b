package reports

import (
	"fmt"
	"math"
	"slices"
)

// Knob effects: how an alternative value of a knob shifts a workload's
// throughput across every configuration measured with both values. A
// per-cell comparison asks "is this cell different?" and, with a few runs
// a cell and Holm-Bonferroni over hundreds of cells, can see only large
// changes. The design question is the knob's: does item beat batch for
// this workload? Each configuration (threshold, compression, reclaim,
// workers) measured with both values gives one ratio of medians; the
// Wilcoxon signed-rank test over those ratios asks whether the knob moves
// throughput consistently, and the Hodges-Lehmann estimate says by how
// much. The noise of each cell's median enters every ratio, so the test
// is valid as the cells' noise is independent; the sweep interleaves
// every cell in every round, so drift hits both values alike.

// knobEffect is one alternative of one knob in one workload.
type knobEffect struct {
	key, base, alt, workload string
	cells                    int     // configurations measured with both values
	ratio, lo, hi            float64 // Hodges-Lehmann estimate of alt/base throughput, and its 95% interval (0, +Inf if too few cells)
	faster, slower           int     // configurations whose alt median is above, below the base's
	p                        float64 // signed-rank p-value
	real                     bool    // significant after Holm-Bonferroni over every effect of the document
	sees                     float64 // the smallest effect the test could see at the Holm level of a lone effect (80% power)
	logs                     []float64
}

// knobEffects measures every alternative of every tuning knob in every
// workload, and applies Holm-Bonferroni across all of them.
func knobEffects(s *Set, workloads []string) []knobEffect {
	var effects []knobEffect
	for _, knob := range tuningKnobs {
		for _, alt := range keyValues(s, knob.key) {
			if alt == knob.base {
				continue
			}
			for _, w := range workloads {
				if e, ok := knobEffectIn(s, knob.key, knob.base, alt, w); ok {
					effects = append(effects, e)
				}
			}
		}
	}
	// Holm over the effects, by way of the comparisons' own procedure.
	cs := make([]Change, len(effects))
	for i, e := range effects {
		cs[i] = Change{P: e.p, Alpha: DefaultAlpha}
	}
	holm(cs)
	for i := range effects {
		effects[i].real = cs[i].Holm
		effects[i].sees = MinDetectablePaired(effects[i].logs, DefaultAlpha/float64(len(effects)), DefaultPower)
	}
	return effects
}

// knobEffectIn compares alt with base in workload w's fault-free engine
// cells, configuration by configuration.
func knobEffectIn(s *Set, key, base, alt, w string) (knobEffect, bool) {
	e := knobEffect{key: key, base: base, alt: alt, workload: w}
	d := configurationLogs(s, key, base, alt, w)
	if len(d) < 2 {
		return e, false
	}
	e.cells, e.logs = len(d), d
	for _, x := range d {
		switch {
		case x > 0:
			e.faster++
		case x < 0:
			e.slower++
		}
	}
	e.p = signedRankP(d)
	e.ratio = math.Exp(hodgesLehmann(d))
	e.lo, e.hi = hodgesLehmannInterval(d, DefaultAlpha)
	return e, true
}

// configurationLogs is the log ratio, alt over base, of the throughput
// medians of every configuration of workload w measured with both values
// of key.
func configurationLogs(s *Set, key, base, alt, w string) []float64 {
	col := fmt.Sprintf("/%s@(%q %q)", key, base, alt)
	filter := fmt.Sprintf(".name:Engine /fault:none /workload:%q /%s:(%q OR %q)", w, key, base, alt)
	t, err := Summarize(s, Query{Filter: filter, Col: col, Unit: "items/s"})
	if err != nil {
		return nil
	}
	var d []float64
	for _, r := range columnRatios(t) {
		d = append(d, math.Log(r))
	}
	return d
}

// hodgesLehmannInterval is the confidence interval at level 1-alpha of
// the Hodges-Lehmann estimate of d's center, as ratios (exp of the log
// bounds): the Walsh averages at the signed-rank test's critical ranks.
// With too few values for any interval it is (0, +Inf).
func hodgesLehmannInterval(d []float64, alpha float64) (lo, hi float64) {
	lower, _ := signedRankCritical(len(d), alpha)
	if lower < 0 {
		return 0, math.Inf(1)
	}
	var walsh []float64
	for i := range d {
		for j := i; j < len(d); j++ {
			walsh = append(walsh, (d[i]+d[j])/2)
		}
	}
	slices.Sort(walsh)
	c := int(lower) // W+ <= c rejects: the interval keeps ranks c+1 .. M-c
	return math.Exp(walsh[c]), math.Exp(walsh[len(walsh)-1-c])
}

// effectSection writes the Knob effects section.
func effectSection(d *doc, effects []knobEffect) {
	d.h(2, "Knob effects")
	if len(effects) == 0 {
		d.p("No knob was measured with more than one value in a workload.")
		return
	}
	d.p("Each row is one alternative of a knob in one workload, against the knob's simplest value: every configuration (threshold, the other knobs, workers) measured with both values gives the ratio of their median throughputs, and the Wilcoxon signed-rank test over those ratios asks whether the knob moves throughput consistently. The effect is the Hodges-Lehmann estimate of the typical ratio with its 95%% interval. A row is real when it survives Holm-Bonferroni over all %d rows (family-wise alpha 0.05); the last column is the smallest effect the row could have shown at that level. The effect is a typical one: a knob that helps at small thresholds and costs nothing at large ones shows as a smaller effect than its best case, which the plots above give.", len(effects))
	var rows [][]string
	for _, e := range effects {
		real := "no"
		if e.real {
			real = "**yes**"
		}
		rows = append(rows, []string{e.knobName(), e.workload, fmt.Sprint(e.cells), e.effectText(),
			fmt.Sprintf("%d / %d", e.faster, e.slower), fmt.Sprintf("%.2g", e.p), real, FormatChange(e.sees)})
	}
	d.t([]string{"knob", "workload", "configurations", "throughput effect (95% interval)", "faster / slower", "p", "real", "could see"}, rows)
}

func (e knobEffect) knobName() string { return fmt.Sprintf("%s vs %s", e.alt, e.base) }

// effectText is the effect as a signed percentage with its interval:
// "+12.3% [+8.1%, +16.0%]".
func (e knobEffect) effectText() string {
	if math.IsInf(e.hi, 1) {
		return signedPercent(e.ratio) + " [too few configurations for an interval]"
	}
	return fmt.Sprintf("%s [%s, %s]", signedPercent(e.ratio), signedPercent(e.lo), signedPercent(e.hi))
}

// effectCounts counts the workloads in which alt of key is really faster,
// and really slower, than the base by more than 5%.
func effectCounts(effects []knobEffect, key, alt string) (faster, slower int) {
	for _, e := range effects {
		if e.key != key || e.alt != alt || !e.real {
			continue
		}
		switch {
		case e.ratio > 1.05:
			faster++
		case e.ratio < 0.95:
			slower++
		}
	}
	return faster, slower
}
