package reports

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
)

// MinProfileSamples is the fewest CPU samples a profile group must stand
// on before the report attributes its time: with fewer, a share of a few
// percent is a handful of samples.
const MinProfileSamples = 1000

// profileSection attributes the CPU profiles of the fault-free engine
// cells to categories and lists the functions that matter. Profiles merge
// into groups, the finest grouping whose every group holds at least
// MinProfileSamples samples: per workload, granularity and compression;
// else per workload and granularity; else per workload; else all
// together. Every share is printed with the samples behind it.
func profileSection(d *doc, s *Set) error {
	type prof struct {
		path string
		keys map[string]string
	}
	var profs []prof
	for _, dir := range s.Dirs {
		for _, p := range dir.Profiles {
			base := filepath.Base(p)
			if !strings.HasSuffix(base, ".cpu.pb.gz") || !strings.HasPrefix(base, "Engine_") {
				continue
			}
			keys := map[string]string{}
			for _, kv := range nameKeys(strings.ReplaceAll(strings.TrimSuffix(base, ".cpu.pb.gz"), "_", "/")) {
				keys[kv[0]] = kv[1]
			}
			if keys["fault"] == "none" {
				profs = append(profs, prof{p, keys})
			}
		}
	}
	if len(profs) == 0 {
		return nil
	}
	runs := profiledRuns(s)
	var groups map[string][]string
	var as map[string]Attribution
	var by []string
	for _, keys := range [][]string{{"workload", "gran", "comp"}, {"workload", "gran"}, {"workload"}, nil} {
		by = keys
		groups = map[string][]string{}
		for _, p := range profs {
			var g []string
			for _, k := range keys {
				g = append(g, k+"="+p.keys[k])
			}
			name := strings.Join(g, " ")
			if name == "" {
				name = "all cells"
			}
			groups[name] = append(groups[name], p.path)
		}
		as = map[string]Attribution{}
		enough := true
		for g, paths := range groups {
			p, err := MergeProfiles(paths)
			if err != nil {
				return err
			}
			a := Attribute(g, p)
			as[g] = a
			enough = enough && a.Samples >= MinProfileSamples
		}
		if enough {
			break
		}
	}
	d.h(3, "Where the time goes")
	grouping := "all together"
	if len(by) > 0 {
		grouping = "per " + strings.Join(by, ", ")
	}
	d.p("CPU profiles of the cells without faults, every recorded repetition, merged %s: the finest grouping in which every group stands on at least %d samples. Time is attributed by the first rule that matches from the leaf of the stack (the rules are the table reports.Categories; anything else is other); each share is given with its samples.", grouping, MinProfileSamples)
	var list []Attribution
	var rows [][]string
	names := slices.Sorted(mapKeys(groups))
	share := func(v int64, a Attribution) string {
		f := float64(v) / float64(max(a.Total, 1))
		return fmt.Sprintf("%.0f%% (%d)", 100*f, int64(math.Round(f*float64(a.Samples))))
	}
	for i, g := range names {
		a := as[g]
		list = append(list, a)
		var tops, cats, cums []string
		for _, f := range Top(a.Flat, 3) {
			tops = append(tops, shortFunc(f.Func)+" "+share(f.Value, a))
		}
		for _, c := range append(categoryNames(), "other") {
			if v := a.Categories[c]; v > 0 {
				cats = append(cats, c+" "+share(v, a))
			}
		}
		for _, f := range Top(a.Cum, 3) {
			cums = append(cums, shortFunc(f.Func)+" "+share(f.Value, a))
		}
		note := ""
		if a.Samples < MinProfileSamples {
			note = " (too few to attribute reliably)"
		}
		rows = append(rows, []string{fmt.Sprintf("#%d", i+1), g, fmt.Sprint(len(groups[g])), fmt.Sprintf("%d%s", a.Samples, note), fmt.Sprintf("%.0f ms", float64(a.Total)/1e6),
			strings.Join(cats, ", "), strings.Join(tops, ", "), strings.Join(cums, ", ")})
	}
	p, err := CategoryBars(list, "CPU time by category")
	if err != nil {
		return err
	}
	if err := d.fig("profile-categories", "Share of CPU samples by category, one bar per group of profiles (numbered as in the table).", p); err != nil {
		return err
	}
	d.t([]string{"#", "cells", "profiles", "samples", "CPU sampled", "categories (share, samples)", "top functions, flat", "top functions, cumulative"}, rows)

	// Where the time of the first two groups of one workload differs,
	// function by function, per engine run profiled.
	if len(names) >= 2 && strings.Fields(names[0])[0] == strings.Fields(names[1])[0] {
		a, b := as[names[0]], as[names[1]]
		ra, rb := runs.of(groups[names[0]]), runs.of(groups[names[1]])
		shifts := Diff(a, b, ra, rb)
		var drows [][]string
		for _, sh := range shifts[:min(5, len(shifts))] {
			drows = append(drows, []string{shortFunc(sh.Func), fmt.Sprintf("%.2f", float64(sh.Old)/1e6), fmt.Sprintf("%.2f", float64(sh.New)/1e6), fmt.Sprintf("%+.0f%%", 100*sh.Share)})
		}
		if len(drows) > 0 {
			d.p("From %s (#1, %d runs profiled) to %s (#2, %d runs), CPU ms per run by function; the share is the part of the total change each explains.", names[0], ra, names[1], rb)
			d.t([]string{"function", "#1 ms/run", "#2 ms/run", "share of the change"}, drows)
		}
	}
	return nil
}

// runCounts is how many engine runs each cell's profile covers.
type runCounts map[string]int

// profiledRuns counts, from outcomes.jsonl, the runs the merged profile of
// each cell covers: every run of its recorded repetitions (one each in
// result directories from before repetitions held several).
func profiledRuns(s *Set) runCounts {
	rc := runCounts{}
	for _, o := range s.Outcomes() {
		if o.Rep >= 0 && (o.Status == "ok" || o.Status == "error") {
			rc[strings.ReplaceAll(o.Cell, "/", "_")] += max(o.Runs, 1)
		}
	}
	return rc
}

// of sums the runs behind the profiles at paths.
func (rc runCounts) of(paths []string) int {
	n := 0
	for _, p := range paths {
		n += rc[strings.TrimSuffix(filepath.Base(p), ".cpu.pb.gz")]
	}
	return max(n, 1)
}
