package reports

import (
	"bytes"
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/cmpimg"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/golden/name, writing name.got-test
// beside it on a mismatch.
func golden(t *testing.T, name string, got []byte, equal func(a, b []byte) bool) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; go test ./reports -update creates it", err)
	}
	if !equal(got, want) {
		os.WriteFile(path+".got-test", got, 0o644)
		t.Fatalf("%s differs from its golden file; see %s.got-test (go test ./reports -update accepts it)", name, path)
	}
}

func TestReportIsDeterministicAndMatchesGolden(t *testing.T) {
	s := loadQuick(t)
	a, b := t.TempDir(), t.TempDir()
	for _, out := range []string{a, b} {
		if _, err := Generate(s, Options{Out: out, Command: "spillbench report testdata/quick"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"report.md", "report.html", "plots/hol-throughput.svg", "plots/fault-matrix.png"} {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s: two runs on the same inputs differ (or it is empty)", f)
		}
	}
	md, _ := os.ReadFile(filepath.Join(a, "report.md"))
	golden(t, "quick-report.md", md, bytes.Equal)
	for _, section := range []string{"## Question", "## Setup", "Reproduce: `spillbench run --spec ../testdata/quick/spec.yaml --out ../testdata/quick-again`", "### Efficiency against the limits",
		"### Where the time goes", "### Faults", "## Findings", "## Limitations", "![", "plots/hol-peak-buffered.svg"} {
		if !bytes.Contains(md, []byte(section)) {
			t.Errorf("report.md lacks %q", section)
		}
	}
	html, _ := os.ReadFile(filepath.Join(a, "report.html"))
	if !bytes.Contains(html, []byte("<svg")) || bytes.Contains(html, []byte("plots/")) {
		t.Error("report.html must inline its plots and refer to no file")
	}
}

// quickPlots draws each kind of plot the report makes from the test
// data, by name, and returns the fault matrix's width (the others take
// PlotWidth).
func quickPlots(t *testing.T) (map[string]*plot.Plot, vg.Length) {
	t.Helper()
	s := loadQuick(t)
	must := func(p *plot.Plot, err error) *plot.Plot {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	prof, err := ReadProfile(s.Dirs[0].Profiles[0])
	if err != nil {
		t.Fatal(err)
	}
	faults, faultsWidth, err := FaultMatrix(s.Outcomes(), "faults")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*plot.Plot{
		"threshold": must(MetricVsThreshold(s, "hol", "items/s", "hol: throughput", "items/s", false)),
		"memory":    must(MetricVsThreshold(s, "hol", "peak-buffered-B", "hol: peak buffered", "bytes", true)),
		// The budget far below the data, and far above it.
		"heap":       must(MetricVsThreshold(s, "mix", "peak-heap-B", "mix: peak heap", "bytes", true)),
		"buffered":   must(MetricVsThreshold(s, "mix", "peak-buffered-B", "mix: peak buffered", "bytes", true)),
		"categories": must(CategoryBars([]Attribution{Attribute("a", prof), Attribute("b", prof)}, "categories")),
		"faults":     faults,
		"history":    must(HistoryPlot([]HistoryPoint{{"a1b2c3", 10, 9, 11}, {"d4e5f6", 12, 11, 13}, {"0a0b0c", 9, 8.5, 9.5}}, "history", "ms")),
	}, faultsWidth
}

// TestPlotsRenderLikeTheirGoldens renders each kind of plot from the test
// data and compares the PNG with a tolerance for font rasterisation.
func TestPlotsRenderLikeTheirGoldens(t *testing.T) {
	plots, faultsWidth := quickPlots(t)
	for name, pl := range plots {
		t.Run(name, func(t *testing.T) {
			width := PlotWidth
			if name == "faults" {
				width = faultsWidth
			}
			checkPNG(t, "plot-"+name+".png", pl, width, PlotHeight)
		})
	}
}

// checkPNG renders p as SVG and PNG at width x height: the SVG is not
// empty, the PNG decodes at that size, is not blank and matches its
// golden image within font rasterisation.
func checkPNG(t *testing.T, name string, p *plot.Plot, width, height vg.Length) {
	t.Helper()
	svg, err := RenderSize(p, "svg", width, height)
	if err != nil || !bytes.Contains(svg, []byte("<svg")) {
		t.Fatalf("SVG: %v (%d bytes)", err, len(svg))
	}
	b, err := RenderSize(p, "png", width, height)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the PNG does not decode: %v", err)
	}
	wantW, wantH := int(width.Dots(96)+0.5), int(height.Dots(96)+0.5)
	if r := img.Bounds(); r.Dx() != wantW || r.Dy() != wantH {
		t.Fatalf("PNG is %dx%d, want %dx%d", r.Dx(), r.Dy(), wantW, wantH)
	}
	ink := 0
	for y := 0; y < wantH; y += 2 {
		for x := 0; x < wantW; x += 2 {
			if r, g, b, _ := img.At(x, y).RGBA(); r+g+b < 3*0xf000 {
				ink++
			}
		}
	}
	if ink < 500 {
		t.Fatalf("the PNG is nearly blank: %d inked samples", ink)
	}
	golden(t, name, b, func(a, b []byte) bool {
		ok, err := cmpimg.EqualApprox("png", a, b, 0.02)
		return err == nil && ok
	})
}

func TestMalformedInputsGiveClearErrors(t *testing.T) {
	good := "../testdata/quick"
	copyDir := func(t *testing.T) string {
		dir := t.TempDir()
		for _, f := range []string{"results.txt", "outcomes.jsonl", "env.json"} {
			b, _ := os.ReadFile(filepath.Join(good, f))
			os.WriteFile(filepath.Join(dir, f), b, 0o644)
		}
		os.MkdirAll(filepath.Join(dir, "profiles"), 0o755)
		return dir
	}
	for _, tc := range []struct {
		name   string
		break_ func(dir string)
		want   []string
	}{
		{"unit written two ways", func(dir string) {
			f, _ := os.OpenFile(filepath.Join(dir, "results.txt"), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("BenchmarkEngine/workload=x 1 12 ns/op\nBenchmarkEngine/workload=x 1 0.5 sec/op\n")
			f.Close()
		}, []string{"results.txt", "Engine/workload=x", "both as"}},
		{"not a spillbench benchmark", func(dir string) {
			f, _ := os.OpenFile(filepath.Join(dir, "results.txt"), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("BenchmarkFoo 1 12 ns/op\n")
			f.Close()
		}, []string{"results.txt", `"Foo"`, "not a spillbench cell"}},
		{"missing env.json", func(dir string) { os.Remove(filepath.Join(dir, "env.json")) }, []string{"not a spillbench result directory", "env.json"}},
		{"bad outcomes line", func(dir string) {
			f, _ := os.OpenFile(filepath.Join(dir, "outcomes.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("{\"cell\": 3}\n")
			f.Close()
		}, []string{"outcomes.jsonl:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t)
			tc.break_(dir)
			out := filepath.Join(t.TempDir(), "report")
			s, err := Load(dir)
			if err == nil {
				_, err = Generate(s, Options{Out: out})
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q is not one line", err)
			}
			if _, serr := os.Stat(filepath.Join(out, "report.md")); serr == nil {
				t.Fatal("a half report was written")
			}
		})
	}
	if _, err := Load(filepath.Join(good, "results.txt")); err == nil || !strings.Contains(err.Error(), "not a spillbench result directory") {
		t.Fatalf("a file as result dir: %v", err)
	}
}

// BenchmarkReport generates a report from 10,000 result lines and 50
// profiles: it must take a few seconds at most.
//
//	go test ./reports -run '^$' -bench Report -benchtime 1x
func BenchmarkReport(b *testing.B) {
	dir := b.TempDir()
	src := "../testdata/quick"
	for _, f := range []string{"outcomes.jsonl", "env.json"} {
		data, _ := os.ReadFile(filepath.Join(src, f))
		os.WriteFile(filepath.Join(dir, f), data, 0o644)
	}
	res, _ := os.ReadFile(filepath.Join(src, "results.txt"))
	header, body, _ := bytes.Cut(res, []byte("\nBenchmark"))
	body = append([]byte("Benchmark"), body...)
	var all bytes.Buffer
	all.Write(header)
	all.WriteString("\n")
	for all.Len() < 0 || bytes.Count(all.Bytes(), []byte("\nBenchmark")) < 10000 {
		all.Write(body)
	}
	os.WriteFile(filepath.Join(dir, "results.txt"), all.Bytes(), 0o644)
	os.MkdirAll(filepath.Join(dir, "profiles"), 0o755)
	profs, _ := filepath.Glob(filepath.Join(src, "profiles", "*.cpu.pb.gz"))
	for i := 0; i < 50; i++ {
		data, _ := os.ReadFile(profs[i%len(profs)])
		name := strings.Replace(filepath.Base(profs[i%len(profs)]), "comp=none", fmt.Sprintf("comp=none%d", i), 1)
		os.WriteFile(filepath.Join(dir, "profiles", name), data, 0o644)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := Load(dir)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Generate(s, Options{Out: filepath.Join(b.TempDir(), "r")}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDesignDocumentGeneratorsRun regenerates the threshold-tuning and
// injection documents from the quick test data, as make docs does from
// full runs, and checks their sections.
func TestDesignDocumentGeneratorsRun(t *testing.T) {
	s := loadQuick(t)
	out := t.TempDir()
	if err := TuningDoc(s, out, "spillbench report --doc tuning testdata/quick"); err != nil {
		t.Fatal(err)
	}
	if err := InjectionDoc(s, out, "spillbench report --doc injection testdata/quick"); err != nil {
		t.Fatal(err)
	}
	for file, sections := range map[string][]string{
		"threshold-tuning.md":     {"## The knee", "## Recommended defaults", "threshold (default)", "## Where the time goes", "](threshold-tuning/hol-throughput.svg)", "## How this was made"},
		"injection-mechanisms.md": {"## Summary", "| mock |", "| tmpfs |", "## Every mode", "## Recommendations", "## Against the reference's ranking", "## How this was made"},
	} {
		b, err := os.ReadFile(filepath.Join(out, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, sec := range sections {
			if !bytes.Contains(b, []byte(sec)) {
				t.Errorf("%s lacks %q", file, sec)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(out, "threshold-tuning", "hol-throughput.svg")); err != nil {
		t.Error(err)
	}
}

// With many fault modes the matrix widens so each square keeps room for
// its label; with few it stays at the default width.
func TestFaultMatrixWidensWithItsModes(t *testing.T) {
	outcomes := func(modes int) []Outcome {
		var out []Outcome
		for i := range modes {
			out = append(out, Outcome{
				Keys:     map[string]string{"fault": fmt.Sprintf("mock:mode%02d", i)},
				Status:   "error",
				Fault:    &FaultOutcome{Injector: "mock", Fired: true, Errno: "EIO"},
				ExitCode: 11,
			})
		}
		return out
	}
	_, narrow, err := FaultMatrix(outcomes(2), "two")
	if err != nil {
		t.Fatal(err)
	}
	p, wide, err := FaultMatrix(outcomes(13), "thirteen")
	if err != nil {
		t.Fatal(err)
	}
	if narrow != PlotWidth {
		t.Fatalf("2 modes: width %v, want the default %v", narrow, PlotWidth)
	}
	if perMode := wide / 13; wide <= PlotWidth || perMode < 1.6*vg.Centimeter {
		t.Fatalf("13 modes: width %v (%v a mode), want room for an 'unavailable' label in each", wide, perMode)
	}
	b, err := RenderSize(p, "png", wide, PlotHeight)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := img.Bounds().Dx(), int(wide.Dots(96)+0.5); got != want {
		t.Fatalf("rendered %d px wide, want %d", got, want)
	}
}

// Peak buffered bytes against thresholds spanning decades go on a log
// scale, so the tight thresholds are not flattened onto zero; a narrow
// range stays linear.
func TestPeakBufferedGoesLogAcrossDecades(t *testing.T) {
	env, err := os.ReadFile("../testdata/quick/env.json")
	if err != nil {
		t.Fatal(err)
	}
	// peakPlot plots the peak buffered bytes of a set with these
	// thresholds, each with a peak just above its threshold.
	peakPlot := func(thresholds ...string) *plot.Plot {
		t.Helper()
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "env.json"), env, 0o644)
		var b strings.Builder
		b.WriteString("Unit peak-buffered-B better=lower\n")
		for _, th := range thresholds {
			v, _ := parseSize(th)
			for range 3 {
				fmt.Fprintf(&b, "BenchmarkEngine/workload=hol/threshold=%s/gran=item/fault=none 1 1e6 ns/op %.0f peak-buffered-B\n", th, v*1.05)
			}
		}
		os.WriteFile(filepath.Join(dir, "results.txt"), []byte(b.String()), 0o644)
		os.WriteFile(filepath.Join(dir, "outcomes.jsonl"), nil, 0o644)
		s, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		p, err := MetricVsThreshold(s, "hol", "peak-buffered-B", "peak", "bytes", true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Render(p, "png"); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := peakPlot("4KiB", "64KiB", "1MiB", "16MiB"); !isLog(p.Y.Scale) {
		t.Fatalf("4 KiB..16 MiB thresholds: y scale %T, want a log scale", p.Y.Scale)
	}
	if p := peakPlot("2KiB", "16KiB"); isLog(p.Y.Scale) {
		t.Fatal("2 KiB..16 KiB thresholds went to a log scale")
	}
}

func isLog(s plot.Normalizer) bool {
	_, ok := s.(plot.LogScale)
	return ok
}

// The report's tables name cells by the keys that vary among their rows
// and state the keys every row shares once, above the table: no row
// repeats a fixed key, and no row carries a whole cell name.
func TestReportTablesNameCellsByWhatVaries(t *testing.T) {
	s := loadQuick(t)
	out := t.TempDir()
	if _, err := Generate(s, Options{Out: out, Formats: []Format{Markdown}}); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	var fixed []string // the last "All rows:" sentence's keys
	sentences, checked := 0, 0
	for _, line := range strings.Split(string(md), "\n") {
		if rest, ok := strings.CutPrefix(line, "All rows: "); ok {
			sentences++
			fixed = strings.Split(strings.TrimSuffix(rest, "."), ", ")
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if line != "" {
				fixed = nil // a sentence stands above one table only
			}
			continue
		}
		for _, cell := range strings.Split(line, " | ") {
			if strings.Contains(cell, "Engine/") || strings.Contains(cell, "schedule=seeded") {
				t.Errorf("a table row names a whole cell, or a key fixed in this run: %q", line)
			}
			for _, kv := range fixed {
				if strings.Contains(cell, kv) {
					t.Errorf("a row repeats %q, which the sentence above its table states: %q", kv, line)
				}
			}
			if strings.Contains(cell, "=") {
				checked++
			}
		}
	}
	if sentences < 3 {
		t.Errorf("%d \"All rows:\" sentences; want one above each of the efficiency, granularity and best-cell tables", sentences)
	}
	if checked < 8 {
		t.Errorf("only %d table cells name keys: the test checks nothing", checked)
	}
	for _, want := range []string{
		"All rows: reclaim=keep, backend=dir, workers=2, ring=1024, schedule=seeded, fault=none.",
		"| `workload=mix/threshold=2KiB/comp=zstd:3` | 250.3k | 288.7k | +15.32% |",
		"| throughput | mix | `threshold=4MiB/gran=item/comp=zstd:3` | 380.8k ±6% (n=12, sees ≥13%) |",
		"| mix | gran=batch/comp=none | 0.075 (1 cell) | 0.960 ±10% at 4MiB |",
	} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

// The legend of every kind of plot stands right of its data area, never
// over it.
func TestLegendsStandBesideTheData(t *testing.T) {
	plots, width := quickPlots(t)
	for name, pl := range plots {
		w := PlotWidth
		if name == "faults" {
			w = width
		}
		c := draw.New(vgimg.New(w, PlotHeight))
		data := pl.DataCanvas(c)
		// A legend on the right ends at the canvas's right edge
		// (Legend.Rectangle places it on the wrong side, so only its
		// width is used).
		if pl.Legend.Left {
			t.Errorf("%s: the legend is on the left", name)
		}
		lw := pl.Legend.Rectangle(c).Size().X
		if lw <= 0 {
			t.Errorf("%s: no legend", name)
		}
		if left := c.Max.X - lw; left < data.Max.X {
			t.Errorf("%s: the legend starts at x=%v, inside the data area, which ends at x=%v", name, left, data.Max.X)
		}
	}
}

// A budget far below the data does not stretch the axis: peak heap in
// the quick run is tens of MiB against thresholds of 2 KiB and 4 MiB,
// and its axis runs from zero to just above the data.
func TestBudgetDoesNotStretchTheAxis(t *testing.T) {
	s := loadQuick(t)
	for _, tc := range []struct{ workload, unit string }{{"mix", "peak-heap-B"}, {"hol", "peak-rss-B"}, {"mix", "peak-buffered-B"}} {
		ss, err := thresholdSeries(s, tc.workload, "", tc.unit)
		if err != nil {
			t.Fatal(err)
		}
		hi := 0.0
		for _, sr := range ss {
			for _, c := range sr.points {
				_, h := finiteInterval(c.Summary)
				hi = max(hi, h)
			}
		}
		p, err := MetricVsThreshold(s, tc.workload, tc.unit, "t", "bytes", true)
		if err != nil {
			t.Fatal(err)
		}
		if isLog(p.Y.Scale) || p.Y.Min != 0 || p.Y.Max < hi || p.Y.Max > 1.3*hi {
			t.Errorf("%s %s: y axis %T from %g to %g; want linear from 0 to just above the data's %g", tc.workload, tc.unit, p.Y.Scale, p.Y.Min, p.Y.Max, hi)
		}
	}
}

// A mechanism and mode no cell ran is labelled "not run" on grey, with a
// legend entry, not left blank like a gap in the rendering.
func TestFaultMatrixLabelsWhatDidNotRun(t *testing.T) {
	outcome := func(fault string) Outcome {
		inj, _, _ := strings.Cut(fault, ":")
		return Outcome{Keys: map[string]string{"fault": fault}, Status: "error", ExitCode: 11,
			Fault: &FaultOutcome{Injector: inj, Fired: true, Errno: "EIO"}}
	}
	svg := func(outcomes ...Outcome) string {
		t.Helper()
		p, width, err := FaultMatrix(outcomes, "faults")
		if err != nil {
			t.Fatal(err)
		}
		b, err := RenderSize(p, "svg", width, PlotHeight)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// Two mechanisms, two modes, two of the four squares run.
	got := svg(outcome("mock:eio"), outcome("tmpfs:enospc"))
	if n := strings.Count(got, ">run</text>"); n != 2 {
		t.Errorf("%d squares labelled not run, want 2", n)
	}
	if n := strings.Count(got, ">not run</text>"); n != 1 {
		t.Errorf("%d legend entries \"not run\", want 1", n)
	}
	if n := strings.Count(got, "fill:#E4E4E4"); n != 3 {
		t.Errorf("%d light grey fills, want 3: two squares and the legend's", n)
	}
	// All four run: nothing says not run.
	if got := svg(outcome("mock:eio"), outcome("mock:enospc"), outcome("tmpfs:eio"), outcome("tmpfs:enospc")); strings.Contains(got, "run</text>") {
		t.Error("a full matrix mentions squares not run")
	}
}
