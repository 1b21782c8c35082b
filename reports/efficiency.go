package reports

import (
	"fmt"
	"slices"
	"strings"
)

// efficiencySection compares the engine with the limits measured beside
// it in the same run, strategy by strategy.
//
// Spill efficiency is the spill path's own rate: the bytes it wrote and
// read back, over the time the buffer spent in its eviction and reload
// calls (spill-sec/op and reload-sec/op), against RawFS, the same number of
// bytes written and read in 1 MiB calls in the same kind of directory.
// Dividing by the whole run's time instead would measure the workload.
//
// No-spill overhead compares only cells that did not spill, with the Ring
// limit: the same workload, workers, window and schedule through the bare
// ring. A cell that spilled pays for its I/O, which is not overhead.
func efficiencySection(d *doc, s *Set, workloads []string) error {
	d.h(3, "Efficiency against the limits")
	if externalOnly(s) {
		return externalEfficiency(d, s)
	}
	d.p("Spill efficiency is the spill path's rate (bytes written plus bytes read back, over the time spent inside the buffer's eviction and reload calls) against RawFS, the same bytes written and read in 1 MiB calls in the same kind of directory, measured beside each repetition: the median over a strategy's spilling cells, with their range when there are several. No-spill overhead is time per run of the cells that spilled nothing over the Ring limit (the same workload through the bare in-memory ring): the ratio of medians ± the wider side of the interval between the ratios of their 95%% interval bounds; over several thresholds, the median of those ratios and their range.")
	cells := effCells(s)
	var rows [][]string
	var strats []string
	for _, w := range workloads {
		for _, strat := range strategies(cells, w) {
			var effs, overs []float64
			var quiet []string
			var overText string
			for _, c := range cells {
				if c.keys["workload"] != w || c.strategy() != strat {
					continue
				}
				if e, ok := c.efficiency(); ok {
					effs = append(effs, e)
				}
				if !c.spilled() {
					ring := sample(s, c.ringFilter(), "sec/op")
					eng := sample(s, ".name:Engine /"+strings.Join(c.filterKeys(), " /"), "sec/op")
					if ring != nil && eng != nil && ring.Summary.Center > 0 {
						overs = append(overs, eng.Summary.Center/ring.Summary.Center)
						quiet = append(quiet, c.keys["threshold"])
						overText = ratioText(eng, ring)
					}
				}
			}
			if len(effs) == 0 && len(overs) == 0 {
				continue
			}
			eff := "-"
			if len(effs) > 0 {
				eff = medianRange(effs, "cell", "cells")
			}
			over := "-"
			if len(overs) == 1 {
				over = fmt.Sprintf("%s at %s", overText, quiet[0])
			} else if len(overs) > 1 {
				over = medianRange(overs, "threshold", "thresholds")
			}
			rows = append(rows, []string{w, "", eff, over})
			strats = append(strats, strat)
		}
	}
	if len(rows) == 0 {
		d.p("No cell of this run has the measurements these figures need.")
		return nil
	}
	short, fixed := varyingKeys(strats)
	for i := range rows {
		rows[i][1] = short[i]
	}
	allRows(d, fixed)
	d.t([]string{"workload", "strategy", "spill efficiency (spill path / RawFS)", "no-spill overhead (engine / Ring)"}, rows)
	return nil
}

// effCell is what the efficiency figures need of one engine cell: its
// keys, and the medians of its spill figures and of the RawFS lines
// measured beside it.
type effCell struct {
	name                 string
	keys                 map[string]string
	bytes, secs, rawRate float64 // medians; secs is the spill path's time per run
	spilledBytes         float64
}

// strategy is the cell's name without its workload, threshold and fault:
// the spill knobs and the setting it ran in, "gran=batch/comp=none/...".
func (c effCell) strategy() string {
	var parts []string
	for _, kv := range nameKeys("Engine/" + c.name) {
		if kv[0] != "workload" && kv[0] != "threshold" && kv[0] != "fault" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return strings.Join(parts, "/")
}

func (c effCell) spilled() bool { return c.spilledBytes > 0 }

// efficiency is the spill path's rate over RawFS's, where both were seen.
func (c effCell) efficiency() (float64, bool) {
	if c.bytes <= 0 || c.secs <= 0 || c.rawRate <= 0 {
		return 0, false
	}
	return c.bytes / c.secs / c.rawRate, true
}

// filterKeys are the cell's keys as benchproc filter terms.
func (c effCell) filterKeys() []string {
	var ks []string
	for _, k := range slices.Sorted(mapKeys(c.keys)) {
		ks = append(ks, fmt.Sprintf("%s:%q", k, c.keys[k]))
	}
	return ks
}

// ringFilter selects the Ring limit of the cell's workload, workers,
// window and schedule (results from before schedules were a key have
// none, and match any).
func (c effCell) ringFilter() string {
	f := ".name:Ring"
	for _, k := range []string{"workload", "workers", "ring", "schedule"} {
		if v, ok := c.keys[k]; ok {
			f += fmt.Sprintf(" /%s:%q", k, v)
		}
	}
	return f
}

// effCells gathers every fault-free engine cell of the set, in name order.
func effCells(s *Set) []effCell {
	type vals struct{ written, read, spillSecs, reloadSecs, raw []float64 }
	byName := map[string]*vals{}
	get := func(name string) *vals {
		v := byName[name]
		if v == nil {
			v = &vals{}
			byName[name] = v
		}
		return v
	}
	add := func(dst *[]float64, v float64, ok bool) {
		if ok {
			*dst = append(*dst, v)
		}
	}
	for _, r := range s.Results() {
		kind, rest, _ := strings.Cut(string(r.Name.Full()), "/")
		switch kind {
		case "Engine":
			if !slices.Contains(nameKeys(kind+"/"+rest), [2]string{"fault", "none"}) {
				continue
			}
			v := get(rest)
			b, ok := r.Value("spill-bytes/op")
			add(&v.written, b, ok)
			b, ok = r.Value("reload-bytes/op")
			add(&v.read, b, ok)
			t, ok := r.Value("spill-sec/op")
			add(&v.spillSecs, t, ok)
			t, ok = r.Value("reload-sec/op")
			add(&v.reloadSecs, t, ok)
		case "RawFS":
			b, ok := r.Value("bytes/s")
			add(&get(rest).raw, b, ok)
		}
	}
	var cells []effCell
	for _, name := range slices.Sorted(mapKeys(byName)) {
		v := byName[name]
		if len(v.written) == 0 {
			continue // a RawFS line without its engine cell
		}
		c := effCell{name: name, keys: map[string]string{}, spilledBytes: median(v.written)}
		for _, kv := range nameKeys("Engine/" + name) {
			c.keys[kv[0]] = kv[1]
		}
		if len(v.read) > 0 && len(v.spillSecs) > 0 && len(v.reloadSecs) > 0 {
			c.bytes = median(v.written) + median(v.read)
			c.secs = median(v.spillSecs) + median(v.reloadSecs)
		}
		if len(v.raw) > 0 {
			c.rawRate = median(v.raw)
		}
		cells = append(cells, c)
	}
	return cells
}

// strategies lists the strategies of workload w's cells.
func strategies(cells []effCell, w string) []string {
	var out []string
	for _, c := range cells {
		if c.keys["workload"] == w && !slices.Contains(out, c.strategy()) {
			out = append(out, c.strategy())
		}
	}
	slices.Sort(out)
	return out
}

// medianRange is the median of xs with their range: a spread over
// cells, not an interval, so it is not written with ±.
func medianRange(xs []float64, one, many string) string {
	if len(xs) == 1 {
		return fmt.Sprintf("%.3f (1 %s)", xs[0], one)
	}
	s := slices.Sorted(slices.Values(xs))
	return fmt.Sprintf("%.3f (range %.3f to %.3f over %d %s)", median(s), s[0], s[len(s)-1], len(s), many)
}
