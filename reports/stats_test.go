package reports

import (
	"encoding/csv"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func loadQuick(t testing.TB) *Set {
	t.Helper()
	s, err := Load("../testdata/quick")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// benchstatCSV runs the real benchstat on a file and returns, per row of
// the table of unit, the old and new centers, the delta and the p-value
// text.
func benchstatCSV(t *testing.T, unit string, args ...string) map[string][4]string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"tool", "benchstat", "-format", "csv"}, args...)...).Output()
	if err != nil {
		t.Fatalf("benchstat: %v", err)
	}
	rows := map[string][4]string{}
	r := csv.NewReader(strings.NewReader(string(out)))
	r.FieldsPerRecord = -1
	recs, _ := r.ReadAll()
	inUnit := false
	for _, rec := range recs {
		if len(rec) > 1 && rec[0] == "" && rec[1] != "" && len(rec) > 3 && rec[2] == "CI" {
			inUnit = rec[1] == unit
			continue
		}
		if inUnit && len(rec) >= 7 && rec[0] != "geomean" && rec[0] != "" {
			rows[rec[0]] = [4]string{rec[1], rec[3], rec[5], rec[6]}
		}
	}
	return rows
}

func TestStatisticsMatchBenchstat(t *testing.T) {
	s := loadQuick(t)
	const filter = "/workload:hol .name:Engine"
	for _, unit := range []string{"sec/op", "items/s", "B/op"} {
		want := benchstatCSV(t, unit, "-col", "/gran", "-filter", filter, "../testdata/quick/results.txt")
		if len(want) == 0 {
			t.Fatalf("benchstat printed no %s rows", unit)
		}
		tab, err := Summarize(s, Query{Filter: filter, Col: "/gran", Unit: unit})
		if err != nil {
			t.Fatal(err)
		}
		changes := Compare(tab, s.HigherIsBetter(unit), DefaultAlpha)
		if len(changes) != len(want) {
			t.Fatalf("%s: %d rows compared, benchstat has %d", unit, len(changes), len(want))
		}
		for _, c := range changes {
			w, ok := want[c.Row]
			if !ok {
				t.Fatalf("%s: row %q not in benchstat's output %v", unit, c.Row, want)
			}
			old, _ := strconv.ParseFloat(w[0], 64)
			cur, _ := strconv.ParseFloat(w[1], 64)
			if !close(c.Old.Summary.Center, old) || !close(c.New.Summary.Center, cur) {
				t.Errorf("%s %s: centers %g, %g; benchstat %g, %g", unit, c.Row, c.Old.Summary.Center, c.New.Summary.Center, old, cur)
			}
			if c.Delta != w[2] {
				t.Errorf("%s %s: delta %q, benchstat %q", unit, c.Row, c.Delta, w[2])
			}
			if p := "p=" + strconv.FormatFloat(c.P, 'f', 3, 64); !strings.HasPrefix(w[3], p) {
				t.Errorf("%s %s: %s, benchstat %s", unit, c.Row, p, w[3])
			}
		}
	}
}

func close(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }

func TestMinPValueAndRunsNeeded(t *testing.T) {
	if p := MinPValue(4, 4); math.Abs(p-2.0/70) > 1e-12 {
		t.Fatalf("MinPValue(4, 4) = %g, want 2/70", p)
	}
	if n := RunsNeeded(0.05); n != 4 {
		t.Fatalf("RunsNeeded(0.05) = %d, want 4 (2/70 < 0.05 but 2/20 is not)", n)
	}
	if n := RunsNeeded(0.05 / 20); n <= 4 {
		t.Fatalf("RunsNeeded for 20 comparisons under Holm = %d", n)
	}
}

func TestHolmBonferroni(t *testing.T) {
	cs := []Change{{P: 0.01, Alpha: 0.05}, {P: 0.04, Alpha: 0.05}, {P: 0.03, Alpha: 0.05}, {P: 0.005, Alpha: 0.05}}
	holm(cs)
	// Sorted: 0.005 < 0.05/4, 0.01 < 0.05/3, 0.03 >= 0.05/2: stop.
	want := []bool{true, false, false, true}
	for i, c := range cs {
		if c.Holm != want[i] {
			t.Errorf("p=%g: survives %t, want %t", c.P, c.Holm, want[i])
		}
	}
}
