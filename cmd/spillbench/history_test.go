package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// historyStore records n synthetic runs with history add and returns the
// store. Run i holds 4 Engine cells, 8 repetitions each, cell b at
// level(b, i) times its base time with lognormal noise of 3% sd.
func historyStore(t *testing.T, seed uint64, n int, level func(b, i int) float64) string {
	t.Helper()
	cells := []string{"workload=mix/threshold=2KiB/gran=batch", "workload=mix/threshold=2KiB/gran=item",
		"workload=hol/threshold=2KiB/gran=batch", "workload=hol/threshold=2KiB/gran=item"}
	r := rand.New(rand.NewPCG(seed, 1))
	store := filepath.Join(t.TempDir(), "history")
	start := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	for i := range n {
		dir := t.TempDir()
		var res strings.Builder
		res.WriteString("Unit items/s better=higher\n\n")
		for range 8 {
			for b, c := range cells {
				ns := 52e6 * level(b, i) * math.Exp(0.03*r.NormFloat64())
				fmt.Fprintf(&res, "BenchmarkEngine/%s/comp=none/reclaim=keep/fault=none 1 %.0f ns/op %.1f items/s\n", c, ns, 1e6/(ns/1e9))
			}
		}
		env := fmt.Sprintf(`{"commit": "c%03d", "start": %q}`, i, start.Add(time.Duration(i)*time.Hour).Format(time.RFC3339))
		for f, b := range map[string]string{"results.txt": res.String(), "env.json": env, "outcomes.jsonl": ""} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(b), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if code, out, errOut := run("history", "add", dir, "--store", store); code != 0 {
			t.Fatalf("history add: exit %d\n%s%s", code, out, errOut)
		}
	}
	return store
}

// cell0 is 1, then to from entry at on, for the first cell only.
func cell0(at int, to float64) func(b, i int) float64 {
	return func(b, i int) float64 {
		if b == 0 && i >= at {
			return to
		}
		return 1
	}
}

func TestHistoryShowExitsOneOnARegressionInEffect(t *testing.T) {
	const entry10 = "20261126T100000-c010"
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) string
		args  []string
		code  int
		want  []string
	}{
		{"a 10% step", func(t *testing.T) string { return historyStore(t, 1, 20, cell0(10, 1.10)) }, nil, 1, []string{
			"change point at " + entry10 + ": Engine/workload=mix/threshold=2KiB/gran=batch/comp=none/reclaim=keep/fault=none sec/op +",
			"worse (p=0.00",
			"1 change points in 1 of 4 benchmarks over 20 entries",
			"regression in effect: Engine/workload=mix/threshold=2KiB/gran=batch/comp=none/reclaim=keep/fault=none sec/op +",
		}},
		{"the step in items/s", func(t *testing.T) string { return historyStore(t, 1, 20, cell0(10, 1.10)) }, []string{"--metric", "items/s"}, 1, []string{
			"change point at " + entry10, "items/s -", "regression in effect",
		}},
		{"the step under a 20% threshold", func(t *testing.T) string { return historyStore(t, 1, 20, cell0(10, 1.10)) }, []string{"--threshold", "20%"}, 0, []string{
			"change point at " + entry10, "worse",
		}},
		{"a slow drift", func(t *testing.T) string {
			return historyStore(t, 2, 20, func(b, i int) float64 {
				if b == 0 && i >= 10 {
					return 1 + 0.01*float64(i-9)
				}
				return 1
			})
		}, nil, 1, []string{"change point at 20261126T1", "worse", "regression in effect"}},
		{"an improvement", func(t *testing.T) string { return historyStore(t, 3, 20, cell0(10, 0.90)) }, nil, 0, []string{
			"change point at " + entry10, "sec/op -", "better",
		}},
		{"A/A", func(t *testing.T) string { return historyStore(t, 4, 10, cell0(0, 1)) }, nil, 0, []string{
			"0 change points in 0 of 4 benchmarks over 10 entries",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := tc.store(t)
			plot := filepath.Join(t.TempDir(), "trend.svg")
			args := append([]string{"history", "show", "--store", store, "--out", plot}, tc.args...)
			code, out, errOut := run(args...)
			if code != tc.code || errOut != "" {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if got := strings.Contains(out, "regression in effect"); got != (code == 1) {
				t.Errorf("exit %d, yet a regression in effect printed: %v\n%s", code, got, out)
			}
			trendLines := 0
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "20261126T") {
					trendLines++
				}
			}
			if ents, _ := filepath.Glob(filepath.Join(store, "20261126T*")); trendLines != len(ents) || trendLines == 0 {
				t.Errorf("%d trend lines for %d entries:\n%s", trendLines, len(ents), out)
			}
			svg, err := os.ReadFile(plot)
			if err != nil {
				t.Fatal(err)
			}
			marked := strings.Contains(string(svg), "stroke-dasharray")
			if changed := strings.Contains(out, "change point at "); marked != changed {
				t.Errorf("change points printed: %v; marked on the plot: %v", changed, marked)
			}
		})
	}
}

func TestHistoryHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"history", "-h"}, {"history", "--help"}, {"history"}} {
		code, out, errOut := run(args...)
		if code != 0 || out != "" || !strings.Contains(errOut, "spillbench history add") || !strings.Contains(errOut, "spillbench history show") {
			t.Errorf("%v: exit %d\nstdout %q\nstderr %q; want exit 0 and usage listing add and show", args, code, out, errOut)
		}
	}
	code, _, errOut := run("history", "show", "-h")
	if code != 0 || !strings.Contains(errOut, "-threshold") || !strings.Contains(errOut, "Exit status: 0 no regression in effect, 1 a regression") {
		t.Errorf("history show -h: exit %d\n%s", code, errOut)
	}
}

func TestHistoryShowUsageErrors(t *testing.T) {
	store := historyStore(t, 5, 3, cell0(0, 1))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"history", "frob"}, `unknown subcommand "frob"`},
		{[]string{"history", "show", "--store", store, "--threshold", "lots"}, "--threshold"},
		{[]string{"history", "show", "--store", store, "--threshold", "5"}, "ambiguous"},
		{[]string{"history", "show", "--store", store, "--threshold", "-1%"}, "negative"},
		{[]string{"history", "show", "--store", store, "--alpha", "1"}, "--alpha"},
		{[]string{"history", "show", "--store", filepath.Join(t.TempDir(), "none")}, "spillbench history add"},
		{[]string{"history", "show", "--store", store, "--metric", "furlongs/op"}, "no benchmark with furlongs/op"},
		{[]string{"history", "show", "--store", store, "extra"}, "unexpected argument"},
	} {
		code, out, errOut := run(tc.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line with %q", tc.args, code, errOut, tc.want)
		}
	}
	// Too few entries to find anything: said, and a clean exit.
	code, out, _ := run("history", "show", "--store", store, "--out", filepath.Join(t.TempDir(), "t.svg"))
	if code != 0 || !strings.Contains(out, "no change point can be found in 3 entries") {
		t.Fatalf("3 entries: exit %d\n%s", code, out)
	}
}

// go test -bench output goes into a history as it is, from a file or
// standard input, and show tracks its benchmarks without the Engine
// filter result directories get.
func TestHistoryOfGoBenchmarkFiles(t *testing.T) {
	store := filepath.Join(t.TempDir(), "hist")
	if code, out, errOut := run("history", "add", "--store", store, "--commit", "aaaa", crc32Old); code != 0 || !strings.Contains(out, "added") {
		t.Fatalf("history add FILE: exit %d %s %s", code, out, errOut)
	}
	f, err := os.Open("../../testdata/gobench/crc32-b.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdin = f
	defer func() { stdin = os.Stdin }()
	if code, out, errOut := run("history", "add", "--store", store, "--commit", "bbbb", "-"); code != 0 {
		t.Fatalf("history add -: exit %d %s %s", code, out, errOut)
	}
	code, out, errOut := run("history", "show", "--store", store, "--metric", "B/s", "--out", filepath.Join(t.TempDir(), "t.svg"))
	if code != 0 || strings.Count(out, "-bbbb") != 1 || strings.Count(out, "-aaaa") != 1 {
		t.Fatalf("history show of two go test entries: exit %d\n%s%s", code, out, errOut)
	}
}
