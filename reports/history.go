package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchproc"

	"github.com/spillbench/spillbench/internal/atomicfile"
)

// A history store is a directory of entries, one per recorded run, named
// <start time>-<commit> so they sort by date: plain files, easy to keep in
// git or a CI cache. Entries are only ever added.
type History struct {
	Store   string
	Entries []HistoryEntry
}

// HistoryEntry is one recorded run.
type HistoryEntry struct {
	Name   string // directory name in the store
	Commit string
	Set    *Set
}

// AddHistory records in the store, as a new entry, the result
// directory or Go benchmark file in (as LoadBenchmarks read it), and
// returns the entry's name. A result directory's results, outcomes and
// env are copied; a benchmark file becomes the entry's results.txt, with
// an env.json marked plain and dated now. commit overrides the one
// env.json names.
func AddHistory(store string, in *Dir, commit string) (string, error) {
	env := in.Env
	if commit == "" {
		commit = env.Commit
	}
	if commit == "" || strings.ContainsAny(commit, "/ ") {
		return "", fmt.Errorf("commit %q: give --commit SHA", commit)
	}
	files := map[string][]byte{}
	if in.Plain {
		var b bytes.Buffer
		w := benchfmt.NewWriter(&b)
		for _, r := range in.Results {
			if err := w.Write(r); err != nil {
				return "", err
			}
		}
		env = Env{Plain: true, Commit: commit, Start: time.Now(), Spec: "go test -bench: " + in.Path}
		e, err := json.MarshalIndent(env, "", "  ")
		if err != nil {
			return "", err
		}
		files["results.txt"], files["env.json"], files["outcomes.jsonl"] = b.Bytes(), e, nil
	} else {
		for _, f := range []string{"results.txt", "outcomes.jsonl", "env.json"} {
			b, err := os.ReadFile(filepath.Join(in.Path, f))
			if err != nil {
				return "", err
			}
			files[f] = b
		}
	}
	if !hasBenchmark(files["results.txt"]) {
		// An entry without benchmarks has none in common with the
		// others: history show would track nothing, for good.
		return "", fmt.Errorf("%s holds no benchmark results (no repetition passed); it is not added, as an entry without benchmarks leaves history show nothing to track", in.Path)
	}
	files["commit"] = []byte(commit + "\n")
	name := env.Start.UTC().Format("20060102T150405") + "-" + commit[:min(12, len(commit))]
	entry := filepath.Join(store, name)
	if _, err := os.Stat(entry); err == nil {
		return "", fmt.Errorf("history entry %s exists already; the store is append-only", entry)
	}
	if err := os.MkdirAll(store, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(store, ".adding-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	for f, b := range files {
		if err := os.WriteFile(filepath.Join(tmp, f), b, 0o644); err != nil {
			return "", err
		}
	}
	return name, os.Rename(tmp, entry)
}

// Plain reports whether any entry was recorded from a Go benchmark file.
func (h *History) Plain() bool {
	return slices.ContainsFunc(h.Entries, func(e HistoryEntry) bool { return e.Set.Plain() })
}

// LoadHistory reads every entry of a store, oldest first.
func LoadHistory(store string) (*History, error) {
	ents, err := os.ReadDir(store)
	if err != nil {
		return nil, fmt.Errorf("history store %s: %w; add a run with spillbench history add DIR", store, err)
	}
	h := &History{Store: store}
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := filepath.Join(store, e.Name())
		s, err := Load(dir)
		if err != nil {
			return nil, err
		}
		commit, _ := os.ReadFile(filepath.Join(dir, "commit"))
		h.Entries = append(h.Entries, HistoryEntry{Name: e.Name(), Commit: strings.TrimSpace(string(commit)), Set: s})
	}
	if len(h.Entries) == 0 {
		return nil, fmt.Errorf("history store %s has no entries; add one with spillbench history add DIR", store)
	}
	slices.SortFunc(h.Entries, func(a, b HistoryEntry) int { return strings.Compare(a.Name, b.Name) })
	return h, nil
}

// HistoryTrend is a metric across a history: its geometric-mean trend,
// and the change points of each benchmark.
type HistoryTrend struct {
	Unit           string
	HigherIsBetter bool
	// Benchmarks are those every entry has: the ones tracked.
	Benchmarks []string
	// Points is the geometric mean, over Benchmarks, of their medians
	// and interval bounds at each entry.
	Points []HistoryPoint
	// Changes are the change points, by entry, then benchmark.
	Changes []HistoryChange
	// Config is the detection's configuration, defaults filled in.
	Config ChangePointConfig
	// Skipped are the entries left out: they hold no benchmark with the
	// unit (an entry recorded from a run whose repetitions all failed,
	// before history add refused those).
	Skipped []string
}

// HistoryChange is a change point of one benchmark: the entry where its
// new level starts.
type HistoryChange struct {
	Benchmark string
	Entry     string // the entry's name
	Commit    string
	Worse     bool // Ratio is in the unit's worse direction
	ChangePoint
}

// Trend summarizes unit at every entry and finds where each benchmark's
// level moved (DetectChangePoints on the series of its medians, one per
// entry, over the benchmarks every entry has).
func (h *History) Trend(unit, filter string, cfg ChangePointConfig) (*HistoryTrend, error) {
	if filter != "" {
		if _, err := benchproc.NewFilter(filter); err != nil {
			return nil, fmt.Errorf("filter %q: %v", filter, err)
		}
	}
	var common []string
	var medians []map[string]*Cell
	var entries []HistoryEntry
	var skipped []string
	higher := false
	for _, e := range h.Entries {
		t, err := Summarize(e.Set, Query{Filter: filter, Unit: unit})
		m := map[string]*Cell{}
		var names []string
		if err == nil {
			for j, r := range t.Rows {
				if c := t.Cells[j][0]; c != nil && c.Summary.Center > 0 {
					m[r.StringValues()] = c
					names = append(names, r.StringValues())
				}
			}
		}
		if len(names) == 0 {
			// Nothing of this unit here: the entry cannot be part of
			// any series, and must not empty the others.
			skipped = append(skipped, e.Name)
			continue
		}
		higher = higher || e.Set.HigherIsBetter(unit)
		if len(entries) == 0 {
			common = names
		} else {
			common = slices.DeleteFunc(common, func(n string) bool { return !slices.Contains(names, n) })
		}
		entries, medians = append(entries, e), append(medians, m)
	}
	if len(common) == 0 {
		return nil, errors.New("no benchmark with " + unit + " is in every history entry")
	}
	tr := &HistoryTrend{Unit: unit, HigherIsBetter: higher, Benchmarks: common, Config: cfg.withDefaults(), Skipped: skipped}
	for i, e := range entries {
		var c, lo, hi float64
		for _, n := range common {
			s := medians[i][n].Summary
			l, h := finiteInterval(s)
			c += math.Log(s.Center)
			lo += math.Log(math.Max(l, s.Center/1e6))
			hi += math.Log(math.Max(h, s.Center))
		}
		k := float64(len(common))
		tr.Points = append(tr.Points, HistoryPoint{Label: e.Name, Center: math.Exp(c / k), Lo: math.Exp(lo / k), Hi: math.Exp(hi / k)})
	}
	series := make([][]float64, len(common))
	for j, n := range common {
		for i := range entries {
			series[j] = append(series[j], medians[i][n].Summary.Center)
		}
	}
	cps, err := DetectChangePoints(series, tr.Config)
	if err != nil {
		return nil, err
	}
	for _, cp := range cps {
		e := entries[cp.Index]
		tr.Changes = append(tr.Changes, HistoryChange{Benchmark: common[cp.Series], Entry: e.Name, Commit: e.Commit,
			Worse: worse(cp.Ratio, higher), ChangePoint: cp})
	}
	slices.SortStableFunc(tr.Changes, func(a, b HistoryChange) int { return a.Index - b.Index })
	return tr, nil
}

// worse says whether a ratio new/old is in the worse direction.
func worse(ratio float64, higherIsBetter bool) bool {
	if higherIsBetter {
		return ratio < 1
	}
	return ratio > 1
}

// Regressions returns the regressions still in effect at the latest
// entry, one per benchmark at most: the latest change of the benchmark
// to a level worse by more than threshold (a share, 0.05 for 5%) that no
// later change undid, that is, it is lasting (see ChangePoint.Lasting)
// and its net change is still worse by more than threshold. A later
// improvement that only partly undid it leaves it in effect; a revert
// does not.
func (t *HistoryTrend) Regressions(threshold float64) []HistoryChange {
	var out []HistoryChange
	for _, b := range t.Benchmarks {
		for i := len(t.Changes) - 1; i >= 0; i-- {
			c := t.Changes[i]
			if c.Benchmark != b || !c.Worse || math.Abs(c.Ratio-1) <= threshold {
				continue
			}
			if c.Lasting && worse(c.Net, t.HigherIsBetter) && math.Abs(c.Net-1) > threshold {
				out = append(out, c)
				break
			}
		}
	}
	slices.SortStableFunc(out, func(a, b HistoryChange) int { return a.Index - b.Index })
	return out
}

// HistoryMark marks an entry of a history plot where a new level starts.
type HistoryMark struct {
	Index int    // the entry, from 0
	Label string // what changed, e.g. "+10.2%"
	Worse bool
}

// Marks returns a mark for every entry where a change point is: its
// change when one benchmark moved there, or how many did.
func (t *HistoryTrend) Marks() []HistoryMark {
	var marks []HistoryMark
	for i := 0; i < len(t.Changes); {
		j, w := i, false
		for ; j < len(t.Changes) && t.Changes[j].Index == t.Changes[i].Index; j++ {
			w = w || t.Changes[j].Worse
		}
		label := fmt.Sprintf("%d benchmarks", j-i)
		if j-i == 1 {
			label = signedPercent(t.Changes[i].Ratio)
		}
		marks = append(marks, HistoryMark{Index: t.Changes[i].Index, Label: label, Worse: w})
		i = j
	}
	return marks
}

// signedPercent prints a ratio as a signed change: "+10.2%", "-3.0%".
func signedPercent(ratio float64) string {
	return fmt.Sprintf("%+.1f%%", 100*(ratio-1))
}

// WriteTrendPlot renders the trend, its change points marked, as SVG.
func (h *History) WriteTrendPlot(path string, t *HistoryTrend) error {
	p, err := HistoryPlot(t.Points, fmt.Sprintf("%s over commits (geometric mean of benchmarks)", t.Unit), t.Unit, t.Marks()...)
	if err != nil {
		return err
	}
	b, err := Render(p, "svg")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, 0o644)
}

// Calibrate compares two runs of the same commit (A/A) and says what a
// comparison of such runs can be trusted with: how often it raises a
// false alarm, how far apart two runs of unchanged code land, and the
// smallest change a comparison could see. It recommends the compare
// threshold: the larger of the largest A/A change (below it, drift between
// runs alone can pass the gate's threshold) and the typical minimum
// detectable change (below it, the gate misses most changes anyway),
// rounded up to half a percent. Runs made apart are compared as compare
// compares them, with their drift taken out (see Drift).
func Calibrate(a, b *Set, units []string, filter string) (string, error) {
	var out strings.Builder
	fmt.Fprintf(&out, "A/A calibration: two runs of the same commit compared.\n")
	for _, unit := range units {
		// As compare sees two result directories: drift taken out of
		// runs made apart (interleaved ones are compared pair by pair).
		cmp, err := CompareSets(a, b, []string{unit}, filter, CompareOptions{Drift: true})
		if err != nil {
			return "", err
		}
		if len(cmp.Rows) == 0 {
			continue
		}
		rawPos, holmPos, maxDelta := 0, 0, 0.0
		var halfWidths, mins []float64
		nMin, nMax := math.MaxInt, 0
		for _, r := range cmp.Rows {
			if r.P < DefaultAlpha {
				rawPos++
			}
			if r.Holm {
				holmPos++
			}
			maxDelta = math.Max(maxDelta, math.Abs(r.Ratio-1))
			for _, c := range []*Cell{r.Old, r.New} {
				if c.Summary.Center != 0 && !math.IsInf(c.Summary.Hi, 0) {
					halfWidths = append(halfWidths, (c.Summary.Hi-c.Summary.Lo)/2/math.Abs(c.Summary.Center))
				}
				nMin, nMax = min(nMin, len(c.Sample.Values)), max(nMax, len(c.Sample.Values))
			}
			mins = append(mins, r.MinChange)
		}
		slices.Sort(halfWidths)
		slices.Sort(mins)
		typical := 0.0
		if len(halfWidths) > 0 {
			typical = halfWidths[len(halfWidths)/2]
		}
		sees := mins[len(mins)/2]
		runs := fmt.Sprintf("%d runs each", nMin)
		if nMax > nMin {
			runs = fmt.Sprintf("%d to %d runs each", nMin, nMax)
		}
		fmt.Fprintf(&out, "%s: %d benchmarks, %s; %d significant after Holm-Bonferroni (%d at p<0.05 uncorrected) with nothing changed; largest A/A change %.1f%%, typical interval ±%.1f%%; a comparison sees a lone change of %s in a typical benchmark (%s in the least certain)\n",
			unit, len(cmp.Rows), runs, holmPos, rawPos, 100*maxDelta, 100*typical, FormatChange(sees), FormatChange(mins[len(mins)-1]))
		for _, d := range cmp.Drifts {
			fmt.Fprintf(&out, "  %s\n", d)
		}
		if math.IsInf(sees, 1) {
			fmt.Fprintf(&out, "  recommend: more runs; with %d a side no change can be significant after Holm over %d benchmarks\n", nMin, len(cmp.Rows))
			continue
		}
		thr := math.Ceil(200*math.Max(maxDelta, sees)) / 200
		fmt.Fprintf(&out, "  recommend: spillbench compare --metric %s --threshold %s\n", unit, formatPercent(thr))
	}
	return out.String(), nil
}

// hasBenchmark reports whether Go benchmark-format text holds a result.
func hasBenchmark(b []byte) bool {
	for line := range bytes.Lines(b) {
		if bytes.HasPrefix(line, []byte("Benchmark")) {
			return true
		}
	}
	return false
}
