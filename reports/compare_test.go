package reports

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// benchstatRow is one row of the real benchstat's CSV comparison.
type benchstatRow struct {
	old, cur float64
	delta    string // "+12.34%", "~", or the geomean's change
	p        string // "p=0.000 n=8"; empty on a geomean row
}

// benchstatTables runs go tool benchstat on two files and returns its
// rows by unit and row name, and its geomean rows by unit and package (a
// unit has a table, and a geomean, per package).
func benchstatTables(t *testing.T, old, cur string) (map[string]map[string]benchstatRow, map[string]map[string]benchstatRow) {
	t.Helper()
	out, err := exec.Command("go", "tool", "benchstat", "-format", "csv", old, cur).Output()
	if err != nil {
		t.Fatalf("benchstat: %v", err)
	}
	r := csv.NewReader(strings.NewReader(string(out)))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string]map[string]benchstatRow{}
	geomeans := map[string]map[string]benchstatRow{}
	var unit, pkg string
	for _, rec := range recs {
		switch {
		case len(rec) < 6:
			// The configuration lines above the tables; those that
			// change between tables come again.
			if p, ok := strings.CutPrefix(rec[0], "pkg: "); ok {
				pkg = p
			}
		case rec[0] == "" && rec[2] == "CI":
			// A unit has a table per configuration (pkg: ...).
			unit = rec[1]
			if tables[unit] == nil {
				tables[unit] = map[string]benchstatRow{}
			}
		case rec[0] != "" && unit != "":
			o, err1 := strconv.ParseFloat(rec[1], 64)
			n, err2 := strconv.ParseFloat(rec[3], 64)
			if rec[0] == "geomean" && rec[1] == "" {
				// "summaries must be >0 to compute geomean"
				o, n, err1, err2 = math.NaN(), math.NaN(), nil, nil
			}
			if err1 != nil || err2 != nil {
				t.Fatalf("benchstat row %q", rec)
			}
			row := benchstatRow{o, n, rec[5], rec[len(rec)-1]}
			if rec[0] == "geomean" {
				if geomeans[unit] == nil {
					geomeans[unit] = map[string]benchstatRow{}
				}
				geomeans[unit][pkg] = row
				continue
			}
			tables[unit][rec[0]] = row
		}
	}
	return tables, geomeans
}

// goBenchPairs is pairs of real go test -bench files: the hash/crc32
// package's benchmarks, this project's make bench, and benchstat's own
// examples where the module cache has them.
func goBenchPairs(t *testing.T) [][2]string {
	pairs := [][2]string{
		{"../testdata/gobench/crc32-a.txt", "../testdata/gobench/crc32-b.txt"},
		{"../testdata/gobench/make-bench-a.txt", "../testdata/gobench/make-bench-b.txt"},
	}
	if dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/perf").Output(); err == nil {
		td := filepath.Join(strings.TrimSpace(string(dir)), "cmd", "benchstat", "testdata")
		if _, err := os.Stat(filepath.Join(td, "old.txt")); err == nil {
			pairs = append(pairs, [2]string{filepath.Join(td, "old.txt"), filepath.Join(td, "new.txt")})
		}
	}
	return pairs
}

// On go test -bench files, every row of every unit gets the real
// benchstat's centers, delta (with its ~) and p-value, and every unit the
// same geomean change.
func TestCompareMatchesBenchstatOnGoBenchFiles(t *testing.T) {
	for _, pair := range goBenchPairs(t) {
		t.Run(filepath.Base(pair[0]), func(t *testing.T) {
			want, geomeans := benchstatTables(t, pair[0], pair[1])
			old, err := LoadBenchmarks(nil, pair[0])
			if err != nil {
				t.Fatal(err)
			}
			cur, err := LoadBenchmarks(nil, pair[1])
			if err != nil {
				t.Fatal(err)
			}
			cmp, err := CompareSets(old, cur, nil, "", CompareOptions{Threshold: 0.05})
			if err != nil {
				t.Fatal(err)
			}
			rows := 0
			for _, tab := range want {
				rows += len(tab)
			}
			if len(cmp.Rows) != rows || rows == 0 {
				t.Fatalf("%d rows compared, benchstat has %d", len(cmp.Rows), rows)
			}
			for _, r := range cmp.Rows {
				w, ok := want[r.Unit][r.Row]
				if !ok {
					t.Fatalf("%s %s is not in benchstat's output", r.Unit, r.Row)
				}
				if !close(r.Old.Summary.Center, w.old) || !close(r.New.Summary.Center, w.cur) {
					t.Errorf("%s %s: centers %g, %g; benchstat %g, %g", r.Unit, r.Row, r.Old.Summary.Center, r.New.Summary.Center, w.old, w.cur)
				}
				if r.Delta != w.delta {
					t.Errorf("%s %s: delta %q, benchstat %q", r.Unit, r.Row, r.Delta, w.delta)
				}
				if p := "p=" + strconv.FormatFloat(r.P, 'f', 3, 64) + " " + r.sizes(); p != w.p {
					t.Errorf("%s %s: %s, benchstat %s", r.Unit, r.Row, p, w.p)
				}
			}
			same := func(a, b float64) bool { return close(a, b) || math.IsNaN(a) && math.IsNaN(b) }
			for unit := range want {
				gs, _ := cmp.geomeans(unit)
				if len(gs) != len(geomeans[unit]) {
					t.Errorf("%s: %d geomeans, benchstat %d (a table per package)", unit, len(gs), len(geomeans[unit]))
					continue
				}
				for _, g := range gs {
					w, ok := geomeans[unit][g.Pkg]
					if !ok || formatGeomeanChange(g) != w.delta || !same(g.Old, w.old) || !same(g.New, w.cur) {
						t.Errorf("%s geomean of %s: %+v, benchstat %+v", unit, g.Pkg, g, w)
					}
				}
			}
		})
	}
}

// benchFile writes a go test -bench file: for every benchmark, n runs of
// each unit around its level with seeded noise of sd (relative), after
// the header lines.
func benchFile(t *testing.T, header string, n int, seed uint64, sd float64, levels map[string]map[string]float64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	b.WriteString("goos: linux\ngoarch: amd64\npkg: example.com/p\n" + header)
	names := slices.Sorted(maps.Keys(levels))
	for i := 0; i < n; i++ {
		for _, name := range names {
			fmt.Fprintf(&b, "Benchmark%s-2 \t1000\t", name)
			for _, unit := range slices.Sorted(maps.Keys(levels[name])) {
				fmt.Fprintf(&b, " %.6g %s", levels[name][unit]*math.Exp(sd*rng.NormFloat64()), unit)
			}
			b.WriteString("\n")
		}
	}
	path := filepath.Join(t.TempDir(), "bench.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func compareFiles(t *testing.T, old, cur string, threshold float64) Comparison {
	t.Helper()
	return compareFilesWith(t, old, cur, CompareOptions{Threshold: threshold})
}

func compareFilesWith(t *testing.T, old, cur string, opt CompareOptions) Comparison {
	t.Helper()
	a, err := LoadBenchmarks(nil, old)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadBenchmarks(nil, cur)
	if err != nil {
		t.Fatal(err)
	}
	cmp, err := CompareSets(a, b, nil, "", opt)
	if err != nil {
		t.Fatal(err)
	}
	return cmp
}

// levels is four benchmarks with a time and two rates without better=
// metadata (MB/s, which benchfmt knows, and ops/s, higher is better by
// the convention of rates), the named one scaled by factor: slower time,
// lower rates.
func levels(slow string, factor float64) map[string]map[string]float64 {
	m := map[string]map[string]float64{}
	for i, name := range []string{"Read", "Write", "Seek", "Sync"} {
		ns := 1000 * float64(i+1)
		if name == slow {
			ns *= factor
		}
		m[name] = map[string]float64{"ns/op": ns, "MB/s": 4096 / ns * 1e3, "ops/s": 1e9 / ns}
	}
	return m
}

// A planted slowdown of one benchmark regresses exactly its rows, in a
// lower-is-better and a higher-is-better unit; the same change the other
// way, an improvement, regresses nothing.
func TestGateFindsPlantedRegressionAndNeverFlagsAnImprovement(t *testing.T) {
	base := benchFile(t, "", 12, 1, 0.03, levels("", 1))
	slower := benchFile(t, "", 12, 2, 0.03, levels("Seek", 1.3))
	cmp := compareFiles(t, base, slower, 0.05)
	regs := cmp.Regressions()
	if len(regs) != 3 {
		t.Fatalf("%d regressions, want Seek's sec/op, B/s and ops/s: %+v", len(regs), regs)
	}
	for _, r := range regs {
		if r.Row != "Seek-2" {
			t.Errorf("regression in %s %s; only Seek was slowed", r.Row, r.Unit)
		}
	}
	if !cmp.Higher["B/s"] || !cmp.Higher["ops/s"] || cmp.Higher["sec/op"] {
		t.Errorf("directions: B/s higher %t, ops/s higher %t, sec/op higher %t", cmp.Higher["B/s"], cmp.Higher["ops/s"], cmp.Higher["sec/op"])
	}
	if gs, _ := cmp.geomeans("sec/op"); len(gs) != 1 || gs[0].Rows != 4 || math.Abs(gs[0].Ratio-math.Pow(1.3, 0.25)) > 0.03 {
		t.Errorf("sec/op geomeans %+v; a 1.3x slowdown of one of four is %.3f", gs, math.Pow(1.3, 0.25))
	}
	faster := benchFile(t, "", 12, 3, 0.03, levels("Seek", 1/1.3))
	if regs := compareFiles(t, base, faster, 0.05).Regressions(); len(regs) != 0 {
		t.Fatalf("an improvement flagged as regression: %+v", regs)
	}
}

// A/A: twenty pairs of files from one distribution, eight rows each; the
// gate (Holm over every row) may fail at most one pair.
func TestGateHoldsItsFalseAlarmRateOnAA(t *testing.T) {
	alarms := 0
	for i := uint64(0); i < 20; i++ {
		a := benchFile(t, "", 10, 100+2*i, 0.05, levels("", 1))
		b := benchFile(t, "", 10, 101+2*i, 0.05, levels("", 1))
		if len(compareFiles(t, a, b, 0).Regressions()) > 0 {
			alarms++
		}
	}
	if alarms > 1 {
		t.Fatalf("%d of 20 A/A pairs failed the gate", alarms)
	}
}

// assume=exact units compare without noise: one value a side is enough,
// and any change is significant.
func TestAssumeExactIsHonoured(t *testing.T) {
	lv := func(size float64) map[string]map[string]float64 {
		return map[string]map[string]float64{"Build": {"text-bytes": size}}
	}
	const unit = "Unit text-bytes assume=exact\n"
	cmp := compareFiles(t, benchFile(t, unit, 1, 1, 0, lv(100)), benchFile(t, unit, 1, 1, 0, lv(105)), 0.01)
	if len(cmp.Rows) != 1 || cmp.Rows[0].Delta != "+5.00%" || !cmp.Rows[0].Regression || cmp.Rows[0].MinChange != 0 {
		t.Fatalf("exact unit: %+v", cmp.Rows)
	}
	if cmp.Blind() {
		t.Fatal("an exact comparison of one value a side is not blind")
	}
	// Without the metadata, one value a side can show nothing.
	cmp = compareFiles(t, benchFile(t, "", 1, 1, 0, lv(100)), benchFile(t, "", 1, 1, 0, lv(105)), 0.01)
	if cmp.Rows[0].Delta != "~" || !cmp.Blind() {
		t.Fatalf("noisy unit with n=1: delta %q, blind %t", cmp.Rows[0].Delta, cmp.Blind())
	}
}

// Too few runs: every row prints ~, and the comparison says it is blind
// and why instead of passing.
func TestTooFewRunsIsBlindAndSaysSo(t *testing.T) {
	cmp := compareFiles(t, benchFile(t, "", 3, 1, 0.02, levels("", 1)), benchFile(t, "", 3, 2, 0.02, levels("Read", 2)), 0.05)
	if !cmp.Blind() || len(cmp.Regressions()) != 0 {
		t.Fatalf("n=3: blind %t, %d regressions", cmp.Blind(), len(cmp.Regressions()))
	}
	var b strings.Builder
	cmp.Write(&b, "text")
	if !strings.Contains(b.String(), "no change can be significant; it takes at least") {
		t.Fatalf("no footnote on the sample size:\n%s", b.String())
	}
}

// A benchmark the new side lost is listed, not dropped.
func TestOneSidedRowsAreListed(t *testing.T) {
	all := levels("", 1)
	fewer := levels("", 1)
	delete(fewer, "Sync")
	more := levels("", 1)
	more["Flush"] = map[string]float64{"ns/op": 10, "MB/s": 1, "ops/s": 1}
	cmp := compareFiles(t, benchFile(t, "", 8, 1, 0.02, all), benchFile(t, "", 8, 2, 0.02, fewer), 0.05)
	if lost := cmp.Lost(); len(lost) != 3 || lost[0].Row != "Sync-2" {
		t.Fatalf("lost rows %+v, want Sync-2 in all three units", lost)
	}
	cmp = compareFiles(t, benchFile(t, "", 8, 1, 0.02, all), benchFile(t, "", 8, 2, 0.02, more), 0.05)
	if len(cmp.Lost()) != 0 || len(cmp.Missing) != 3 || cmp.Missing[0].OnlyIn != "new" {
		t.Fatalf("an added benchmark: missing %+v, lost %+v", cmp.Missing, cmp.Lost())
	}
	for _, f := range []string{"text", "markdown", "csv", "json"} {
		var b strings.Builder
		if err := cmp.Write(&b, f); err != nil || !strings.Contains(b.String(), "Flush-2") {
			t.Errorf("%s output does not name the one-sided row Flush-2 (%v)", f, err)
		}
	}
}

// eightLevels is eight benchmarks with a time and a rate, all scaled by
// drift, and the named one by factor besides.
func eightLevels(drift float64, slow string, factor float64) map[string]map[string]float64 {
	m := map[string]map[string]float64{}
	for i := range 8 {
		name := fmt.Sprintf("Cell%d", i)
		ns := 1000 * float64(i+1) * drift
		if name == slow {
			ns *= factor
		}
		m[name] = map[string]float64{"ns/op": ns, "ops/s": 1e9 / ns}
	}
	return m
}

func compareDrift(t *testing.T, old, cur string, drift bool) Comparison {
	t.Helper()
	return compareFilesWith(t, old, cur, CompareOptions{Threshold: 0.05, Drift: drift})
}

// The machine 12% slower in every cell and one cell 30% slower besides:
// raw, every row regresses; with the drift taken out, only that cell's,
// and the drift is reported at about 12%.
func TestDriftIsTakenOutOfEveryRow(t *testing.T) {
	base := benchFile(t, "", 12, 1, 0.03, eightLevels(1, "", 1))
	later := benchFile(t, "", 12, 2, 0.03, eightLevels(1.12, "Cell3", 1.3))
	if regs := compareDrift(t, base, later, false).Regressions(); len(regs) != 16 {
		t.Errorf("raw: %d rows regressed, want all 16 (8 cells, 2 units)", len(regs))
	}
	cmp := compareDrift(t, base, later, true)
	regs := cmp.Regressions()
	if len(regs) != 2 {
		t.Errorf("with drift: %d rows regressed, want Cell3's two: %+v", len(regs), regs)
	}
	for _, r := range regs {
		if r.Row != "Cell3-2" || !r.Drifted || math.Abs(r.Ratio-1)-0.3 > 0.05 && math.Abs(1/r.Ratio-1)-0.3 > 0.05 {
			t.Errorf("regression %s %s ratio %.3f drifted %t; want Cell3 at about 1.3 (or 1/1.3 for a rate)", r.Row, r.Unit, r.Ratio, r.Drifted)
		}
	}
	if len(cmp.Drifts) != 2 {
		t.Fatalf("drifts %+v, want one per unit", cmp.Drifts)
	}
	for _, d := range cmp.Drifts {
		want := 1.12
		if d.Unit == "ops/s" {
			want = 1 / 1.12
		}
		if math.Abs(d.Ratio/want-1) > 0.02 || d.Lo > d.Ratio || d.Hi < d.Ratio || d.Rows != 8 {
			t.Errorf("drift %+v, want %s at about %.3f", d, d.Unit, want)
		}
	}
	var text strings.Builder
	if err := cmp.Write(&text, "text"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "drift: every sec/op row moved +1") {
		t.Errorf("the text does not say what drift it took out:\n%s", text.String())
	}
	var js strings.Builder
	if err := cmp.Write(&js, "json"); err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Drift []Drift `json:"drift"`
	}
	if err := json.Unmarshal([]byte(js.String()), &parsed); err != nil || len(parsed.Drift) != 2 || parsed.Drift[0].Ratio != cmp.Drifts[0].Ratio {
		t.Errorf("the JSON's drift %+v (%v), want the two units' %+v", parsed.Drift, err, cmp.Drifts)
	}
}

// Drift needs MinDriftRows rows: four benchmarks are compared raw.
func TestDriftNeedsEnoughRows(t *testing.T) {
	base := benchFile(t, "", 12, 1, 0.03, levels("", 1))
	later := benchFile(t, "", 12, 2, 0.03, levels("Seek", 1.3))
	if cmp := compareDrift(t, base, later, true); len(cmp.Drifts) != 0 || slices.ContainsFunc(cmp.Rows, func(r ComparedRow) bool { return r.Drifted }) {
		t.Errorf("drift taken out of four rows: %+v", cmp.Drifts)
	}
}

// A/A with the machine's speed different in every pair (up to ±15%):
// with the drift taken out, the gate fails at most 5% of the pairs. (The
// drift is estimated, and its error moves every row: about 2.5% of pairs
// fail, against 1% for A/A pairs without drift compared raw.)
func TestDriftHoldsTheFalseAlarmRate(t *testing.T) {
	alarms := 0
	for i := uint64(0); i < 100; i++ {
		drift := 0.85 + 0.3*float64(i%20)/19
		a := benchFile(t, "", 10, 200+2*i, 0.05, eightLevels(1, "", 1))
		b := benchFile(t, "", 10, 201+2*i, 0.05, eightLevels(drift, "", 1))
		if len(compareDrift(t, a, b, true).Regressions()) > 0 {
			alarms++
		}
	}
	if alarms > 5 {
		t.Fatalf("%d of 100 drifted A/A pairs failed the gate", alarms)
	}
}
