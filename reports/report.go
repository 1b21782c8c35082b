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
func build(s *Set, opt Options) (*doc, error) {
	d := &doc{}
	env := s.Dirs[0].Env
	d.h(1, "spillbench report: %s", env.Spec)
	d.h(2, "Question")
	d.p("How do the spill threshold, granularity, compression and reclaim policy trade throughput against disk traffic and memory for each workload, how close does the engine come to the limits measured beside it, and how does it behave under the faults this sweep injected?")

	d.h(2, "Setup")
	var dirs []string
	rows := [][]string{}
	for _, dir := range s.Dirs {
		e := dir.Env
		state := "complete"
		if !e.Complete {
			state = "INCOMPLETE"
		}
		dirs = append(dirs, filepath.Base(dir.Path))
		rows = append(rows, []string{filepath.Base(dir.Path), e.Host, e.Kernel, e.CPU, fmt.Sprint(e.NumCPU), e.SpillFS, e.GoVersion, short(e.Commit), e.Shard, state})
	}
	d.t([]string{"result dir", "host", "kernel", "CPU", "cores", "spill fs", "Go", "commit", "shard", "state"}, rows)
	cmd := opt.Command
	if cmd == "" {
		cmd = "spillbench report " + strings.Join(dirs, " ")
	}
	d.p("Reproduce: `spillbench run --spec %s` (with `--shard i/n` per shard), then `%s`.", env.Spec, cmd)

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

func cellText(c *Cell, unit string) string {
	if c == nil {
		return "-"
	}
	return fmt.Sprintf("%s %s (n=%d)", formatValue(c.Summary.Center, unit), c.Summary.PctRangeString(), len(c.Sample.Values))
}

// efficiencySection compares the engine with the limits measured beside
// it in the same run.
func efficiencySection(d *doc, s *Set, workloads []string) error {
	d.h(3, "Efficiency against the limits")
	d.p("Spill efficiency compares, cell by cell, the engine's spill traffic rate (bytes written, and read back once, per second of run) with the RawFS line measured beside it (the same bytes written and read sequentially in the same kind of directory): the median over the workload's spilling cells, and their range. No-spill overhead is the engine's time per run at its largest threshold over the Ring limit (the same workload through the bare in-memory ring), with the ratio of the 95%% interval bounds.")
	var rows [][]string
	for _, w := range workloads {
		eff := "-"
		if rs := spillEfficiencies(s, w); len(rs) > 0 {
			slices.Sort(rs)
			eff = fmt.Sprintf("%.4f [%.4f, %.4f] over %d cells", rs[len(rs)/2], rs[0], rs[len(rs)-1], len(rs))
		}
		largest, best := "", -1.0
		for _, t := range keyValuesWhere(s, "threshold", w) {
			if v, ok := parseSize(t); ok && v > best {
				best, largest = v, t
			}
		}
		over := "-"
		ring := sample(s, fmt.Sprintf(".name:Ring /workload:%s", w), "sec/op")
		eng := sample(s, fmt.Sprintf(".name:Engine /workload:%s /fault:none /threshold:%s", w, largest), "sec/op")
		if ring != nil && eng != nil {
			over = ratioText(eng, ring)
		}
		rows = append(rows, []string{w, eff, over, largest})
	}
	d.t([]string{"workload", "spill efficiency (engine / RawFS)", "no-spill overhead (engine / Ring)", "engine threshold for the overhead"}, rows)
	return nil
}

// spillEfficiencies returns, for each engine cell of workload w with RawFS
// lines beside it, its median spill traffic rate over its median RawFS
// rate. One pass groups the values by cell name.
func spillEfficiencies(s *Set, w string) []float64 {
	type vals struct{ bytes, secs, raw []float64 }
	cells := map[string]*vals{}
	get := func(name string) *vals {
		v := cells[name]
		if v == nil {
			v = &vals{}
			cells[name] = v
		}
		return v
	}
	for _, r := range s.Results() {
		name := string(r.Name.Full())
		if !slices.Contains(nameKeys(name), [2]string{"workload", w}) {
			continue
		}
		switch kind, rest, _ := strings.Cut(name, "/"); kind {
		case "Engine":
			v := get(rest)
			if b, ok := r.Value("spill-bytes/op"); ok {
				v.bytes = append(v.bytes, b)
			}
			if t, ok := r.Value("sec/op"); ok {
				v.secs = append(v.secs, t)
			}
		case "RawFS":
			if b, ok := r.Value("bytes/s"); ok {
				get(rest).raw = append(get(rest).raw, b)
			}
		}
	}
	var out []float64
	for _, name := range slices.Sorted(mapKeys(cells)) {
		v := cells[name]
		if len(v.raw) == 0 || len(v.bytes) == 0 || len(v.secs) == 0 {
			continue
		}
		b, t, raw := median(v.bytes), median(v.secs), median(v.raw)
		if t > 0 && raw > 0 {
			out = append(out, 2*b/t/raw)
		}
	}
	return out
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

// profileSection attributes the CPU profiles, merged per workload,
// granularity and compression (one run's profile holds few samples), to
// categories and lists the functions that matter.
func profileSection(d *doc, s *Set) error {
	groups := map[string][]string{}
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
			if keys["fault"] != "none" {
				continue
			}
			g := fmt.Sprintf("workload=%s gran=%s comp=%s", keys["workload"], keys["gran"], keys["comp"])
			groups[g] = append(groups[g], p)
		}
	}
	if len(groups) == 0 {
		return nil
	}
	d.h(3, "Where the time goes")
	d.p("CPU profiles of the cells without faults, merged per workload, granularity and compression, attributed by the first rule that matches from the leaf of the stack (the rules are the table reports.Categories; anything else is other).")
	var as []Attribution
	var rows [][]string
	for i, g := range slices.Sorted(mapKeys(groups)) {
		p, err := MergeProfiles(groups[g])
		if err != nil {
			return err
		}
		a := Attribute(g, p)
		as = append(as, a)
		var tops []string
		for _, f := range Top(a.Flat, 3) {
			tops = append(tops, fmt.Sprintf("%s %.0f%%", shortFunc(f.Func), 100*float64(f.Value)/float64(max(a.Total, 1))))
		}
		var cats []string
		for _, c := range append(categoryNames(), "other") {
			if v := a.Categories[c]; v > 0 {
				cats = append(cats, fmt.Sprintf("%s %.0f%%", c, 100*float64(v)/float64(max(a.Total, 1))))
			}
		}
		var cums []string
		for _, f := range Top(a.Cum, 3) {
			cums = append(cums, fmt.Sprintf("%s %.0f%%", shortFunc(f.Func), 100*float64(f.Value)/float64(max(a.Total, 1))))
		}
		rows = append(rows, []string{fmt.Sprintf("#%d", i+1), g, fmt.Sprint(len(groups[g])), fmt.Sprintf("%.0f ms", float64(a.Total)/1e6),
			strings.Join(cats, ", "), strings.Join(tops, ", "), strings.Join(cums, ", ")})
	}
	p, err := CategoryBars(as, "CPU time by category")
	if err != nil {
		return err
	}
	if err := d.fig("profile-categories", "Share of CPU samples by category, one bar per group of profiles (numbered as in the table).", p); err != nil {
		return err
	}
	d.t([]string{"#", "cells", "profiles", "CPU sampled", "categories", "top functions (flat)", "top functions (cumulative)"}, rows)

	// Where a granularity's time differs: the first two groups of the
	// first workload, function by function, per profiled run.
	names := slices.Sorted(mapKeys(groups))
	if len(names) >= 2 && strings.Fields(names[0])[0] == strings.Fields(names[1])[0] {
		a, b := as[0], as[1]
		shifts := Diff(a, b, len(groups[names[0]]), len(groups[names[1]]))
		var drows [][]string
		for _, sh := range shifts[:min(5, len(shifts))] {
			drows = append(drows, []string{shortFunc(sh.Func), fmt.Sprintf("%.1f", float64(sh.Old)/1e6), fmt.Sprintf("%.1f", float64(sh.New)/1e6), fmt.Sprintf("%+.0f%%", 100*sh.Share)})
		}
		if len(drows) > 0 {
			d.p("From %s (#1) to %s (#2), CPU ms per profiled run by function; the share is the part of the total change each explains.", names[0], names[1])
			d.t([]string{"function", "#1 ms/run", "#2 ms/run", "share of the change"}, drows)
		}
	}
	return nil
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
	for _, r := range slices.Sorted(mapKeys(notFired)) {
		items = append(items, fmt.Sprintf("%d runs of %s are no evidence about their fault.", notFired[r], r))
	}
	t, err := Summarize(s, Query{Filter: ".name:Engine /fault:none", Unit: "sec/op"})
	if err == nil {
		noisy, small := 0, 0
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
		}
		if noisy > 0 {
			items = append(items, fmt.Sprintf("%d of %d engine cells are noisy: their 95%% interval of time per run is wider than ±10%% of the median.", noisy, len(t.Rows)))
		}
		if small > 0 {
			items = append(items, fmt.Sprintf("%d cells have too few runs for any comparison to be significant at alpha 0.05; %d runs per side are needed.", small, RunsNeeded(DefaultAlpha)))
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

// keyValuesWhere lists the values of key among workload w's results.
func keyValuesWhere(s *Set, key, w string) []string {
	var vs []string
	for _, r := range s.Results() {
		kv := nameKeys(string(r.Name.Full()))
		if !slices.Contains(kv, [2]string{"workload", w}) {
			continue
		}
		for _, x := range kv {
			if x[0] == key && !slices.Contains(vs, x[1]) {
				vs = append(vs, x[1])
			}
		}
	}
	return vs
}
