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

// cellProfile is the CPU profile of one fault-free engine cell and the
// cell's keys.
type cellProfile struct {
	path string
	keys map[string]string
}

// profileGroups is the profiles merged into groups of a grouping.
type profileGroups struct {
	by    []string            // the keys grouped by; none: all together
	paths map[string][]string // group name -> its profiles
	attrs map[string]Attribution
}

// profileSection attributes the CPU profiles of the fault-free engine
// cells to categories and lists the functions that matter. Profiles merge
// into groups, the finest grouping whose every group holds at least
// MinProfileSamples samples: per workload, granularity and compression;
// else per workload and granularity; else per workload; else all
// together. Every share is printed with the samples behind it.
func profileSection(d *doc, s *Set) error {
	profs := cellProfiles(s)
	if len(profs) == 0 {
		return nil
	}
	g, err := groupProfiles(profs)
	if err != nil {
		return err
	}
	d.h(3, "Where the time goes")
	grouping := "all together"
	if len(g.by) > 0 {
		grouping = "per " + strings.Join(g.by, ", ")
	}
	d.p("CPU profiles of the cells without faults, every recorded repetition, merged %s: the finest grouping in which every group stands on at least %d samples. Time is attributed by the first rule that matches from the leaf of the stack (the rules are the table reports.Categories; anything else is other); each share is given with its samples.", grouping, MinProfileSamples)
	names := slices.Sorted(mapKeys(g.paths))
	var list []Attribution
	var rows [][]string
	for i, name := range names {
		a := g.attrs[name]
		list = append(list, a)
		rows = append(rows, attributionRow(i, name, len(g.paths[name]), a))
	}
	p, err := CategoryBars(list, "CPU time by category")
	if err != nil {
		return err
	}
	if err := d.fig("profile-categories", "Share of CPU samples by category, one bar per group of profiles (numbered as in the table).", p); err != nil {
		return err
	}
	d.t([]string{"#", "cells", "profiles", "samples", "CPU sampled", "categories (share, samples)", "top functions, flat", "top functions, cumulative"}, rows)
	diffSection(d, g, names, profiledRuns(s))
	return nil
}

// cellProfiles lists the CPU profiles of the fault-free engine cells.
func cellProfiles(s *Set) []cellProfile {
	var profs []cellProfile
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
				profs = append(profs, cellProfile{p, keys})
			}
		}
	}
	return profs
}

// groupProfiles merges the profiles by the finest grouping in which every
// group holds MinProfileSamples samples (all together if none does).
func groupProfiles(profs []cellProfile) (profileGroups, error) {
	var g profileGroups
	for _, keys := range [][]string{{"workload", "gran", "comp"}, {"workload", "gran"}, {"workload"}, nil} {
		g = profileGroups{by: keys, paths: map[string][]string{}, attrs: map[string]Attribution{}}
		for _, p := range profs {
			var parts []string
			for _, k := range keys {
				parts = append(parts, k+"="+p.keys[k])
			}
			name := strings.Join(parts, " ")
			if name == "" {
				name = "all cells"
			}
			g.paths[name] = append(g.paths[name], p.path)
		}
		enough := true
		for name, paths := range g.paths {
			p, err := MergeProfiles(paths)
			if err != nil {
				return g, err
			}
			a := Attribute(name, p)
			g.attrs[name] = a
			enough = enough && a.Samples >= MinProfileSamples
		}
		if enough {
			break
		}
	}
	return g, nil
}

// attributionRow is the table row of group #i+1: its categories and top
// functions, each share with the samples behind it.
func attributionRow(i int, name string, profiles int, a Attribution) []string {
	share := func(v int64) string {
		f := float64(v) / float64(max(a.Total, 1))
		return fmt.Sprintf("%.0f%% (%d)", 100*f, int64(math.Round(f*float64(a.Samples))))
	}
	var tops, cats, cums []string
	for _, f := range Top(a.Flat, 3) {
		tops = append(tops, shortFunc(f.Func)+" "+share(f.Value))
	}
	for _, c := range append(categoryNames(), "other") {
		if v := a.Categories[c]; v > 0 {
			cats = append(cats, c+" "+share(v))
		}
	}
	for _, f := range Top(a.Cum, 3) {
		cums = append(cums, shortFunc(f.Func)+" "+share(f.Value))
	}
	note := ""
	if a.Samples < MinProfileSamples {
		note = " (too few to attribute reliably)"
	}
	return []string{fmt.Sprintf("#%d", i+1), name, fmt.Sprint(profiles), fmt.Sprintf("%d%s", a.Samples, note), fmt.Sprintf("%.0f ms", float64(a.Total)/1e6),
		strings.Join(cats, ", "), strings.Join(tops, ", "), strings.Join(cums, ", ")}
}

// diffSection says where the time of the first two groups of one
// workload differs, function by function, per engine run profiled.
func diffSection(d *doc, g profileGroups, names []string, runs runCounts) {
	if len(names) < 2 || strings.Fields(names[0])[0] != strings.Fields(names[1])[0] {
		return
	}
	a, b := g.attrs[names[0]], g.attrs[names[1]]
	ra, rb := runs.of(g.paths[names[0]]), runs.of(g.paths[names[1]])
	shifts := Diff(a, b, ra, rb)
	var rows [][]string
	for _, sh := range shifts[:min(5, len(shifts))] {
		rows = append(rows, []string{shortFunc(sh.Func), fmt.Sprintf("%.2f", float64(sh.Old)/1e6), fmt.Sprintf("%.2f", float64(sh.New)/1e6), fmt.Sprintf("%+.0f%%", 100*sh.Share)})
	}
	if len(rows) > 0 {
		d.p("From %s (#1, %d runs profiled) to %s (#2, %d runs), CPU ms per run by function; the share is the part of the total change each explains.", names[0], ra, names[1], rb)
		d.t([]string{"function", "#1 ms/run", "#2 ms/run", "share of the change"}, rows)
	}
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
