package reports

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"golang.org/x/perf/benchmath"
	"golang.org/x/perf/benchproc"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

// Format is a report's output format.
type Format string

const (
	Markdown Format = "md"
	HTML     Format = "html"
)

// Options says what to write.
type Options struct {
	Out     string   // directory for report.md, report.html and plots/
	Formats []Format // default both
	// Command is the command line that made the report, printed in it so
	// it can be reproduced; empty means "spillbench report DIR...".
	Command string
}

// Written lists the files a report wrote.
type Written struct{ Files []string }

// Generate writes the design report of a set. It builds everything in
// memory first and writes only if all of it succeeded, so a failure
// leaves no half report. The same inputs give byte-identical files.
func Generate(s *Set, opt Options) (Written, error) {
	if len(opt.Formats) == 0 {
		opt.Formats = []Format{Markdown, HTML}
	}
	d, err := build(s, opt)
	if err != nil {
		return Written{}, err
	}
	files := map[string][]byte{}
	for _, f := range d.figures() {
		files[filepath.Join("plots", f.name+".svg")] = f.svg
		files[filepath.Join("plots", f.name+".png")] = f.png
	}
	for _, f := range opt.Formats {
		switch f {
		case Markdown:
			files["report.md"] = d.markdown()
		case HTML:
			files["report.html"] = d.html()
		default:
			return Written{}, fmt.Errorf("unknown report format %q; use md, html or both", f)
		}
	}
	if err := os.MkdirAll(filepath.Join(opt.Out, "plots"), 0o755); err != nil {
		return Written{}, err
	}
	names := slices.Sorted(mapKeys(files))
	var w Written
	for _, name := range names {
		path := filepath.Join(opt.Out, name)
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return w, err
		}
		w.Files = append(w.Files, path)
	}
	return w, nil
}

// The document model: blocks rendered to Markdown and to HTML alike.
type (
	heading struct {
		level int
		text  string
	}
	para  string
	table struct {
		header []string
		rows   [][]string
	}
	figure struct {
		name, caption string
		svg, png      []byte
	}
	code string
)

type doc struct{ blocks []any }

func (d *doc) h(level int, format string, args ...any) {
	d.blocks = append(d.blocks, heading{level, fmt.Sprintf(format, args...)})
}
func (d *doc) p(format string, args ...any) {
	d.blocks = append(d.blocks, para(fmt.Sprintf(format, args...)))
}
func (d *doc) t(header []string, rows [][]string) {
	d.blocks = append(d.blocks, table{header, rows})
}

// fig renders p as SVG and PNG and adds it.
func (d *doc) fig(name, caption string, p *plot.Plot) error {
	return d.figWidth(name, caption, p, PlotWidth)
}

// figWidth is fig for a plot wider than the default.
func (d *doc) figWidth(name, caption string, p *plot.Plot, width vg.Length) error {
	svg, err := RenderSize(p, "svg", width, PlotHeight)
	if err != nil {
		return err
	}
	png, err := RenderSize(p, "png", width, PlotHeight)
	if err != nil {
		return err
	}
	d.blocks = append(d.blocks, figure{name, caption, svg, png})
	return nil
}

func (d *doc) figures() []figure {
	var fs []figure
	for _, b := range d.blocks {
		if f, ok := b.(figure); ok {
			fs = append(fs, f)
		}
	}
	return fs
}

// writeDesign writes the document as out/name.md with its figures as SVG
// files in out/name/, the layout of a design document in docs/design.
func (d *doc) writeDesign(out, name string) error {
	if err := os.MkdirAll(filepath.Join(out, name), 0o755); err != nil {
		return err
	}
	for _, f := range d.figures() {
		if err := os.WriteFile(filepath.Join(out, name, f.name+".svg"), f.svg, 0o644); err != nil {
			return err
		}
	}
	md := strings.ReplaceAll(string(d.markdown()), "](plots/", "]("+name+"/")
	return os.WriteFile(filepath.Join(out, name+".md"), []byte(md), 0o644)
}

func (d *doc) markdown() []byte {
	var b bytes.Buffer
	for _, bl := range d.blocks {
		switch x := bl.(type) {
		case heading:
			fmt.Fprintf(&b, "%s %s\n\n", strings.Repeat("#", x.level), x.text)
		case para:
			fmt.Fprintf(&b, "%s\n\n", x)
		case code:
			fmt.Fprintf(&b, "```\n%s\n```\n\n", x)
		case table:
			fmt.Fprintf(&b, "| %s |\n|%s\n", strings.Join(x.header, " | "), strings.Repeat("---|", len(x.header)))
			for _, r := range x.rows {
				fmt.Fprintf(&b, "| %s |\n", strings.Join(r, " | "))
			}
			b.WriteString("\n")
		case figure:
			fmt.Fprintf(&b, "![%s](plots/%s.svg)\n\n*%s*\n\n", x.caption, x.name, x.caption)
		}
	}
	return b.Bytes()
}

func (d *doc) html() []byte {
	var b bytes.Buffer
	title := "spillbench report"
	if len(d.blocks) > 0 {
		if h, ok := d.blocks[0].(heading); ok {
			title = h.text
		}
	}
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title>\n", html.EscapeString(title))
	b.WriteString("<style>body{font-family:sans-serif;max-width:60em;margin:auto;padding:1em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}figure{margin:1em 0}svg{max-width:100%;height:auto}</style>\n</head><body>\n")
	for _, bl := range d.blocks {
		switch x := bl.(type) {
		case heading:
			fmt.Fprintf(&b, "<h%d>%s</h%d>\n", x.level, html.EscapeString(x.text), x.level)
		case para:
			fmt.Fprintf(&b, "<p>%s</p>\n", inlineCode(html.EscapeString(string(x))))
		case code:
			fmt.Fprintf(&b, "<pre>%s</pre>\n", html.EscapeString(string(x)))
		case table:
			b.WriteString("<table><tr>")
			for _, h := range x.header {
				fmt.Fprintf(&b, "<th>%s</th>", inlineCode(html.EscapeString(h)))
			}
			b.WriteString("</tr>\n")
			for _, r := range x.rows {
				b.WriteString("<tr>")
				for _, c := range r {
					fmt.Fprintf(&b, "<td>%s</td>", inlineCode(html.EscapeString(c)))
				}
				b.WriteString("</tr>\n")
			}
			b.WriteString("</table>\n")
		case figure:
			svg := x.svg
			if i := bytes.Index(svg, []byte("<svg")); i > 0 {
				svg = svg[i:] // drop the XML prolog inside HTML
			}
			fmt.Fprintf(&b, "<figure>%s<figcaption>%s</figcaption></figure>\n", svg, html.EscapeString(x.caption))
		}
	}
	b.WriteString("</body></html>\n")
	return b.Bytes()
}

// inlineCode turns `x` spans into <code>x</code>.
func inlineCode(s string) string {
	parts := strings.Split(s, "`")
	if len(parts)%2 == 0 {
		return s
	}
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 1 {
			b.WriteString("<code>" + p + "</code>")
		} else {
			b.WriteString(p)
		}
	}
	return b.String()
}

// build assembles the report.
// reproduce is the commands that make such a result again: the spec the
// sweep ran, as its result directory keeps it (a built-in spec can change
// between versions; a YAML file can move), with its repetitions, into new
// directories, and the report of those.
func reproduce(s *Set) string {
	var runs, outs []string
	for _, d := range s.Dirs {
		e := d.Env
		out := d.Path + "-again"
		args := []string{"spillbench run --spec", filepath.Join(d.Path, "spec.yaml")}
		if e.MinCount > 0 && e.MinCount == e.MaxCount {
			args = append(args, "--count", fmt.Sprint(e.MinCount))
		}
		if e.Shard != "" && e.Shard != "0/1" {
			args = append(args, "--shard", e.Shard)
		}
		if e.Planted != "" {
			args = append(args, "--plant", "'"+e.Planted+"'")
		}
		runs = append(runs, "`"+strings.Join(append(args, "--out", out), " ")+"`")
		outs = append(outs, out)
	}
	return strings.Join(runs, ", ") + ", then `spillbench report " + strings.Join(outs, " ") + "`"
}

func build(s *Set, opt Options) (*doc, error) {
	d := &doc{}
	env := s.Dirs[0].Env
	d.h(1, "spillbench report: %s", env.Spec)
	d.h(2, "Question")
	d.p("How do the spill threshold, granularity, compression and reclaim policy trade throughput against disk traffic and memory for each workload, how close does the engine come to the limits measured beside it, and how does it behave under the faults this sweep injected?")

	d.h(2, "Setup")
	rows := [][]string{}
	for _, dir := range s.Dirs {
		e := dir.Env
		state := "complete"
		if !e.Complete {
			state = "INCOMPLETE"
		}
		rows = append(rows, []string{filepath.Base(dir.Path), e.Host, e.Kernel, e.CPU, fmt.Sprint(e.NumCPU), e.SpillFS, e.GoVersion, short(e.Commit), e.Shard, state})
	}
	d.t([]string{"result dir", "host", "kernel", "CPU", "cores", "spill fs", "Go", "commit", "shard", "state"}, rows)
	if opt.Command != "" {
		d.p("This report: `%s`.", opt.Command)
	}
	d.p("Reproduce: %s.", reproduce(s))
	if env.Benchtime != "" {
		d.p("Measurement: each repetition of a timed cell runs the engine back to back for %s; %s repetitions per cell (more while its 95%% interval is wider than ±%s); GOGC %s; CPU profiles at %d Hz over every recorded repetition; %.0f%% of the sweep's time outside measured runs.",
			env.Benchtime, countRange(env.MinCount, env.MaxCount), formatPercent(env.CI), gogcText(env.GOGC), env.ProfileHz, 100*env.Overhead)
	}
	if env.Planted != "" {
		d.p("**This run had a slowdown planted on purpose (`%s`): it tests the tools, not the code.**", env.Planted)
	}

	workloads := keyValues(s, "workload")
	d.h(2, "Results")
	for _, w := range workloads {
		if err := workloadSection(d, s, w); err != nil {
			return nil, err
		}
	}
	if err := efficiencySection(d, s, workloads); err != nil {
		return nil, err
	}
	if err := profileSection(d, s); err != nil {
		return nil, err
	}
	granularitySection(d, s)
	if err := faultSection(d, s); err != nil {
		return nil, err
	}
	findingsSection(d, s, workloads)
	limitationsSection(d, s)
	return d, nil
}

func short(commit string) string { return commit[:min(12, len(commit))] }

func countRange(lo, hi int) string {
	if hi > lo {
		return fmt.Sprintf("%d to %d", lo, hi)
	}
	return fmt.Sprint(lo)
}

func gogcText(n int) string {
	switch n {
	case 0:
		return "unrecorded"
	case -1:
		return "off"
	}
	return fmt.Sprint(n)
}

// keyValues lists the values of a cell key across the results, in order
// of first appearance.
func keyValues(s *Set, key string) []string {
	var vs []string
	for _, r := range s.Results() {
		for _, kv := range nameKeys(string(r.Name.Full())) {
			if kv[0] == key && !slices.Contains(vs, kv[1]) {
				vs = append(vs, kv[1])
			}
		}
	}
	return vs
}

func nameKeys(name string) [][2]string {
	var kvs [][2]string
	for _, part := range strings.Split(name, "/")[1:] {
		if k, v, ok := strings.Cut(part, "="); ok {
			kvs = append(kvs, [2]string{k, v})
		}
	}
	return kvs
}

func workloadSection(d *doc, s *Set, w string) error {
	d.h(3, "Workload %s", w)
	type metric struct {
		unit, name, title, ylabel string
		budget                    bool
	}
	for _, m := range []metric{
		{"items/s", "throughput", "Throughput vs threshold", "items/s", false},
		{"spill-bytes/op", "spill-bytes", "Bytes spilled per run vs threshold", "bytes written per run", false},
		{"reloads/op", "reloads", "Reload events per run vs threshold", "records reloaded per run", false},
		{"activations/op", "activations", "Spill activations per run vs threshold", "evictions that wrote, per run", false},
		{"peak-buffered-B", "peak-buffered", "Peak buffered bytes vs threshold", "bytes buffered", true},
		{"peak-heap-B", "peak-heap", "Peak Go heap vs threshold", "bytes", true},
		{"peak-rss-B", "peak-rss", "Peak RSS vs threshold", "bytes", true},
	} {
		p, err := MetricVsThreshold(s, w, m.unit, fmt.Sprintf("%s: %s", w, m.title), m.ylabel, m.budget)
		if err != nil {
			continue // a workload with no engine results at every threshold: nothing to plot
		}
		if err := d.fig(fmt.Sprintf("%s-%s", w, m.name), fmt.Sprintf("%s, workload %s: median with 95%% interval per strategy.", m.title, w), p); err != nil {
			return err
		}
	}
	t, err := Summarize(s, Query{Filter: fmt.Sprintf(".name:Engine /workload:%s /fault:none", w), Row: "/threshold", Col: strategy, Unit: "items/s"})
	if err != nil {
		return err
	}
	if len(t.Rows) == 0 {
		d.p("No engine results without faults for this workload.")
		return nil
	}
	header := []string{"threshold"}
	for _, l := range strategyLabels(t.Cols) {
		header = append(header, l+" items/s")
	}
	var rows [][]string
	for i, r := range t.Rows {
		row := []string{r.StringValues()}
		for _, c := range t.Cells[i] {
			row = append(row, cellText(c, "items/s"))
		}
		rows = append(rows, row)
	}
	d.t(header, rows)
	return nil
}

// cellText is a cell's median, the interval's half width, the runs, and
// the smallest change a comparison with another run like it would see.
func cellText(c *Cell, unit string) string {
	if c == nil {
		return "-"
	}
	vs := c.Sample.Values
	return fmt.Sprintf("%s ±%s (n=%d, sees %s)", formatValue(c.Summary.Center, unit), c.Summary.PctRangeString(), len(vs),
		FormatChange(MinDetectable(vs, vs, DefaultAlpha, DefaultPower)))
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// sample pools every value of unit in the results filter keeps.
func sample(s *Set, filter, unit string) *Cell {
	f, err := benchproc.NewFilter(filter)
	if err != nil {
		return nil
	}
	var vs []float64
	for _, r := range s.Results() {
		if v, ok := value(f, r, unit); ok {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return nil
	}
	smp := benchmath.NewSample(vs, &benchmath.DefaultThresholds)
	return &Cell{Sample: smp, Summary: benchmath.AssumeNothing.Summary(smp, 0.95)}
}

// ratioText is a/b's medians with the ratio of the interval bounds.
func ratioText(a, b *Cell) string {
	if b.Summary.Center == 0 || b.Summary.Lo <= 0 || b.Summary.Hi <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f [%.3f, %.3f]", a.Summary.Center/b.Summary.Center, a.Summary.Lo/b.Summary.Hi, a.Summary.Hi/b.Summary.Lo)
}

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
	var rows [][]string
	for _, c := range changes {
		holm := "no"
		if c.Holm {
			holm, survive = "yes", survive+1
		}
		rows = append(rows, []string{"`" + c.Row + "`", formatValue(c.Old.Summary.Center, "items/s"), formatValue(c.New.Summary.Center, "items/s"), c.Delta, fmt.Sprintf("%.3f", c.P), holm})
	}
	d.p("Throughput of per-item records against batch records in each cell (items/s, medians); `~` where the difference is not significant at alpha 0.05, as benchstat prints it. %d of %d differences survive Holm-Bonferroni over all %d comparisons.", survive, len(changes), len(changes))
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

// faultSection shows the fault outcome matrix and its table.
func faultSection(d *doc, s *Set) error {
	var faults []Outcome
	for _, o := range s.Outcomes() {
		if f := o.Keys["fault"]; f != "" && f != "none" && !strings.HasSuffix(f, ":quiet") {
			faults = append(faults, o)
		}
	}
	if len(faults) == 0 {
		return nil
	}
	d.h(3, "Faults")
	p, width, err := FaultMatrix(faults, "Fault outcome by mechanism and mode")
	if err != nil {
		return err
	}
	if err := d.figWidth("fault-matrix", "Outcome of each fault cell, by majority over its repetitions.", p, width); err != nil {
		return err
	}
	type agg struct {
		runs, fired, lost int
		errno, typed      []string
		exits             []int
		setup             []float64
	}
	byFault := map[string]*agg{}
	for _, o := range faults {
		a := byFault[o.Keys["fault"]]
		if a == nil {
			a = &agg{}
			byFault[o.Keys["fault"]] = a
		}
		a.runs++
		if o.Fault != nil && o.Fault.Fired {
			a.fired++
			if o.Fault.Errno != "" && !slices.Contains(a.errno, o.Fault.Errno) {
				a.errno = append(a.errno, o.Fault.Errno)
			}
		}
		if o.ErrorType != "" && !slices.Contains(a.typed, o.ErrorType) {
			a.typed = append(a.typed, o.ErrorType)
		}
		if !slices.Contains(a.exits, o.ExitCode) {
			a.exits = append(a.exits, o.ExitCode)
		}
		a.lost += int(o.Lost + o.Duplicated + o.Corrupted)
		a.setup = append(a.setup, o.SetupMS+o.TeardownMS)
	}
	var rows [][]string
	for _, f := range slices.Sorted(mapKeys(byFault)) {
		a := byFault[f]
		slices.Sort(a.setup)
		slices.Sort(a.exits)
		rows = append(rows, []string{"`" + f + "`", fmt.Sprintf("%d/%d", a.fired, a.runs), orDash(strings.Join(a.errno, ", ")),
			orDash(strings.Join(a.typed, ", ")), fmt.Sprint(a.exits), fmt.Sprint(a.lost), fmt.Sprintf("%.1f", a.setup[len(a.setup)/2])})
	}
	d.t([]string{"fault", "fired", "errno", "typed error", "exit codes", "items lost", "setup+teardown ms (median)"}, rows)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// findingsSection derives the knee and the best cells from the tables.
func findingsSection(d *doc, s *Set, workloads []string) {
	d.h(2, "Findings")
	d.p("The knee is the smallest threshold whose median throughput is within 5%% of the best median throughput of its strategy (the spill knobs other than the threshold); best cells are among engine cells without faults.")
	var rows [][]string
	for _, w := range workloads {
		ss, err := thresholdSeries(s, w, "", "items/s")
		if err != nil || len(ss) == 0 {
			continue
		}
		for _, sr := range ss {
			xs := slices.Sorted(mapKeys(sr.points))
			bestV := 0.0
			for _, x := range xs {
				bestV = math.Max(bestV, sr.points[x].Summary.Center)
			}
			knee := xs[len(xs)-1]
			for _, x := range xs {
				if sr.points[x].Summary.Center >= 0.95*bestV {
					knee = x
					break
				}
			}
			rows = append(rows, []string{w, sr.name, formatBytes(knee), formatValue(bestV, "items/s")})
		}
	}
	if len(rows) > 0 {
		d.t([]string{"workload", "strategy", "knee threshold", "best median items/s"}, rows)
	}
	var best [][]string
	for _, obj := range []struct {
		name, unit string
		higher     bool
	}{{"throughput", "items/s", true}, {"disk bytes", "spill-bytes/op", false}, {"peak memory (buffered)", "peak-buffered-B", false}} {
		for _, w := range workloads {
			t, err := Summarize(s, Query{Filter: fmt.Sprintf(".name:Engine /workload:%s /fault:none", w), Unit: obj.unit})
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
				best = append(best, []string{obj.name, w, "`" + t.Rows[bi].StringValues() + "`", cellText(t.Cells[bi][0], obj.unit)})
			}
		}
	}
	if len(best) > 0 {
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

// limitationsSection lists what this report cannot say.
func limitationsSection(d *doc, s *Set) {
	d.h(2, "Limitations")
	var items []string
	for _, dir := range s.Dirs {
		if !dir.Env.Complete {
			items = append(items, fmt.Sprintf("%s is incomplete (interrupted: %t): its cells have fewer repetitions than the spec asks.", filepath.Base(dir.Path), dir.Env.Interrupted))
		}
	}
	skipped := map[string]int{}
	notFired := map[string]int{}
	for _, o := range s.Outcomes() {
		switch o.Status {
		case "skipped":
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
	t, err := Summarize(s, Query{Filter: ".name:Engine /fault:none", Unit: "sec/op"})
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
	for _, it := range items {
		d.p("- %s", it)
	}
}
