package reports

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// limitationsSection lists what this report cannot say.
func limitationsSection(d *doc, s *Set) {
	d.h(2, "Limitations")
	var items []string
	for _, dir := range s.Dirs {
		switch {
		case dir.Writer != 0:
			items = append(items, fmt.Sprintf("%s was still being written by its sweep (%s) when this report read it: its cells have fewer repetitions than they will have.", filepath.Base(dir.Path), writerText(dir.Writer)))
		case !dir.Env.Complete:
			items = append(items, fmt.Sprintf("%s is incomplete (interrupted: %t): its cells have fewer repetitions than the spec asks.", filepath.Base(dir.Path), dir.Env.Interrupted))
		}
	}
	skipped := map[string]int{}
	notFired := map[string]int{}
	items = append(items, failureItems(s)...)
	for _, o := range s.Outcomes() {
		switch o.Status {
		case "skipped", "not-applicable":
			skipped[o.Reason]++
		case "fault-not-fired", "fault-off-target":
			notFired[o.Keys["fault"]+": "+o.Status]++
		}
	}
	for _, r := range slices.Sorted(mapKeys(skipped)) {
		items = append(items, fmt.Sprintf("%d runs skipped: %s", skipped[r], r))
	}
	steal, gcs, stolen := 0, 0, 0.0
	for _, dir := range s.Dirs {
		steal += dir.Env.StealRepeats
	}
	for _, o := range s.Outcomes() {
		if o.GCCycles > 0 {
			gcs++
		}
		stolen = math.Max(stolen, o.StealPct)
	}
	if steal > 0 {
		items = append(items, fmt.Sprintf("%d repetitions were run again because the hypervisor stole more CPU than the spec allows; the largest steal kept was %.1f%%.", steal, stolen))
	}
	if gcs > 0 {
		items = append(items, fmt.Sprintf("%d repetitions met a garbage collection inside their measured runs.", gcs))
	}
	for _, r := range slices.Sorted(mapKeys(notFired)) {
		items = append(items, fmt.Sprintf("%d runs of %s are no evidence about their fault.", notFired[r], r))
	}
	t, err := Summarize(s, Query{Filter: targetCells + " /fault:none", Unit: "sec/op"})
	if err == nil {
		noisy, small, blurred := 0, 0, 0
		var mins []float64
		for i := range t.Rows {
			c := t.Cells[i][0]
			if c == nil {
				continue
			}
			if c.Summary.Center > 0 && (c.Summary.Hi-c.Summary.Lo)/2/c.Summary.Center > 0.10 {
				noisy++
			}
			if MinPValue(len(c.Sample.Values), len(c.Sample.Values)) >= DefaultAlpha {
				small++
			}
			vs := c.Sample.Values
			m := MinDetectable(vs, vs, DefaultAlpha, DefaultPower)
			mins = append(mins, m)
			if m > 0.05 {
				blurred++
			}
		}
		if noisy > 0 {
			items = append(items, fmt.Sprintf("%d of %d engine cells are noisy: their 95%% interval of time per run is wider than ±10%% of the median.", noisy, len(t.Rows)))
		}
		if small > 0 {
			items = append(items, fmt.Sprintf("%d cells have too few runs for any comparison to be significant at alpha 0.05; %d runs per side are needed.", small, RunsNeeded(DefaultAlpha)))
		}
		if len(mins) > 0 {
			slices.Sort(mins)
			items = append(items, fmt.Sprintf("Compared with another run like it, a cell's time per run would show a change of %s in the typical cell and %s in the least certain (80%% power at alpha 0.05); %d of %d cells would miss a 5%% change more often than not. `~` in a comparison means no change this large, not no change.",
				FormatChange(mins[len(mins)/2]), FormatChange(mins[len(mins)-1]), blurred, len(mins)))
		}
	}
	if len(items) == 0 {
		items = append(items, "None found: every cell ran, every fault fired where aimed, and every cell's interval is within ±10%.")
	}
	sort.Strings(items)
	d.list(items)
}

// failureItems says how many repetitions failed and how (Outcome.Failed),
// and whether anything at all was measured.
func failureItems(s *Set) []string {
	var items []string
	failed := map[string]int{} // how a repetition failed -> repetitions
	failedCells := map[string]bool{}
	for _, o := range s.Outcomes() {
		if !o.Failed() {
			continue
		}
		how := o.Status
		if how == "error" {
			how = "error " + orDash(o.ErrorType) + " with no fault injected"
		}
		failed[how]++
		failedCells[o.Cell] = true
	}
	if len(failed) > 0 {
		var hows []string
		n := 0
		for _, how := range slices.Sorted(mapKeys(failed)) {
			hows = append(hows, fmt.Sprintf("%d %s", failed[how], how))
			n += failed[how]
		}
		items = append(items, fmt.Sprintf("%d of %d repetitions failed, in %d cells (%s): their cells' figures stand on the repetitions that passed, if any; outcomes.jsonl says why each failed.",
			n, len(s.Outcomes()), len(failedCells), strings.Join(hows, ", ")))
	}
	if len(s.Results()) == 0 {
		items = append(items, "No repetition recorded a result: there are no figures to report.")
	}
	return items
}
