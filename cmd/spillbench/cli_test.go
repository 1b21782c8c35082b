package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spillbench/spillbench/bench"
)

func run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = spillbench(&o, &e, args)
	return code, o.String(), e.String()
}

func TestUsageErrorsAreOneLineAndExit2(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	os.MkdirAll(full, 0o755)
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("workload: [mix]\ntreshold: [1KiB]\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"run", "--nope"}, "flag provided but not defined"},
		{[]string{"run", "--shard", "3/2"}, "shard"},
		{[]string{"run", "--count", "-1"}, "--count"},
		{[]string{"run", "--profiles", "all"}, "--profiles"},
		{[]string{"run", "--spec", filepath.Join(dir, "missing.yaml")}, "quick, ci, default, tuning, full"},
		{[]string{"run", "--spec", bad}, "bad.yaml:2: unknown axis"},
		{[]string{"run", "--out", full}, "not empty"},
		{[]string{"run", "extra"}, "unexpected argument"},
		{[]string{"version", "x"}, "unexpected argument"},
	} {
		code, stdout, stderr := run(tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 || stdout != "" {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line with %q", tc.args, code, stderr, tc.want)
		}
	}
	if ents, _ := os.ReadDir(full); len(ents) != 1 {
		t.Error("a refused run wrote into its --out directory")
	}
}

func TestHelpAndVersion(t *testing.T) {
	if code, out, _ := run(); code != 0 || !strings.Contains(out, "spillbench run") {
		t.Fatalf("no arguments: exit %d, %q", code, out)
	}
	if code, _, errOut := run("run", "-h"); code != 0 || !strings.Contains(errOut, "Examples:") || !strings.Contains(errOut, "-spec") {
		t.Fatalf("run -h: exit %d, %q", code, errOut)
	}
	if code, out, _ := run("version"); code != 0 || !strings.HasPrefix(out, "spillbench ") {
		t.Fatalf("version: exit %d, %q", code, out)
	}
}

func TestRunWritesAResultDirectory(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "tiny.yaml")
	os.WriteFile(spec, []byte("name: tiny\ncount: 1\nworkload:\n  - {name: mix, items: 300}\nthreshold: [2KiB]\n"), 0o644)
	out := filepath.Join(dir, "out")
	code, stdout, stderr := run("run", "--spec", spec, "--out", out, "-q")
	if code != 0 || !strings.Contains(stdout, out+" (complete): 2 cells, 2 repetitions recorded in 1 rounds, 0 skipped, 0 failed") {
		t.Fatalf("exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	for _, f := range []string{"results.txt", "outcomes.jsonl", "env.json", "spec.yaml"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

// cleanup removes the work dir an interrupted run left (its marker names
// a process that is gone) and leaves alone a look-alike without one.
func TestCleanup(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip(err)
	}
	left := filepath.Join(tmp, "spillbench-inj-left")
	decoy := filepath.Join(tmp, "spillbench-inj-decoy")
	for _, d := range []string{left, decoy} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(left, ".spillbench-injector"), []byte(strconv.Itoa(dead.Process.Pid)), 0o644)
	code, out, errOut := run("cleanup")
	if code != 0 || !strings.Contains(out, left) {
		t.Fatalf("cleanup: exit %d, %q %q; want it to name %s", code, out, errOut, left)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Fatalf("the left-over work dir is still there: %v", err)
	}
	if _, err := os.Stat(decoy); err != nil {
		t.Fatalf("cleanup touched a dir without the marker: %v", err)
	}
	if code, out, _ := run("cleanup"); code != 0 || !strings.Contains(out, "nothing to clean up") {
		t.Fatalf("second cleanup: exit %d, %q", code, out)
	}

	// Spill dirs a killed sweep made under SPILLBENCH_SPILL_DIR, or in
	// a directory given with --in, are found there too.
	for _, how := range []string{"env", "--in"} {
		parent := t.TempDir()
		spillDir := filepath.Join(parent, "spillbench-spill-"+strconv.Itoa(dead.Process.Pid)+"-x")
		os.Mkdir(spillDir, 0o755)
		os.WriteFile(filepath.Join(spillDir, ".spillbench-injector"), []byte(strconv.Itoa(dead.Process.Pid)), 0o644)
		args := []string{"cleanup"}
		if how == "env" {
			t.Setenv("SPILLBENCH_SPILL_DIR", parent)
		} else {
			t.Setenv("SPILLBENCH_SPILL_DIR", "")
			args = append(args, "--in", parent)
		}
		if code, out, errOut := run(args...); code != 0 || !strings.Contains(out, spillDir) {
			t.Fatalf("cleanup (%s): exit %d, %q %q; want it to name %s", how, code, out, errOut, spillDir)
		}
		if _, err := os.Stat(spillDir); !os.IsNotExist(err) {
			t.Fatalf("cleanup (%s) left %s: %v", how, spillDir, err)
		}
	}
	if code, _, errOut := run("cleanup", "--in", filepath.Join(tmp, "no-such-dir")); code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("cleanup --in a missing dir: exit %d, %q; want 2 and one line", code, errOut)
	}
}

func TestReport(t *testing.T) {
	out := filepath.Join(t.TempDir(), "rep")
	code, stdout, stderr := run("report", "--out", out, "--format", "md", "../../testdata/quick")
	if code != 0 || !strings.Contains(stdout, filepath.Join(out, "report.md")) {
		t.Fatalf("report: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "report.html")); err == nil {
		t.Fatal("--format md wrote HTML too")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report"}, "give one or more result directories"},
		{[]string{"report", t.TempDir()}, "not a spillbench result directory"},
		{[]string{"report", "--format", "pdf", "x"}, "--format"},
		{[]string{"report", filepath.Join(t.TempDir(), "missing")}, "no such file"},
	} {
		code, _, stderr := run(tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// copyResultDir copies a result directory, rewriting every "ns/op" value
// of benchmarks whose name has match by f.
func copyResultDir(t *testing.T, src, match string, f func(i int, v float64) float64) string {
	t.Helper()
	dst := t.TempDir()
	for _, name := range []string{"outcomes.jsonl", "env.json"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dst, name), b, 0o644)
	}
	b, _ := os.ReadFile(filepath.Join(src, "results.txt"))
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		fields := strings.Fields(l)
		if len(fields) < 4 || !strings.Contains(fields[0], match) {
			continue
		}
		for j := 2; j+1 < len(fields); j += 2 {
			if fields[j+1] == "ns/op" {
				v, _ := strconv.ParseFloat(fields[j], 64)
				fields[j] = strconv.FormatFloat(f(i, v), 'f', 0, 64)
			}
		}
		lines[i] = strings.Join(fields, " ")
	}
	os.WriteFile(filepath.Join(dst, "results.txt"), []byte(strings.Join(lines, "\n")), 0o644)
	return dst
}

const quickData = "../../testdata/quick"

func TestCompareExitsOneOnARegressionAndZeroOnNoise(t *testing.T) {
	slower := copyResultDir(t, quickData, "workload=hol/threshold=2KiB", func(_ int, v float64) float64 { return v * 1.6 })
	code, out, errOut := run("compare", "--metric", "sec/op", quickData, slower)
	if code != 1 || !strings.Contains(out, "regression: Engine/workload=hol/threshold=2KiB") || !strings.Contains(out, "4 regressed") {
		t.Fatalf("planted regression: exit %d\n%s\n%s", code, out, errOut)
	}
	noisy := copyResultDir(t, quickData, "Engine/", func(i int, v float64) float64 { return v * (1 + 0.01*float64(i%3-1)) })
	if code, out, _ := run("compare", "--metric", "sec/op", quickData, noisy); code != 0 || !strings.Contains(out, "0 regressed") {
		t.Fatalf("noise: exit %d\n%s", code, out)
	}
	code, out, _ = run("compare", "--format", "markdown", "--metric", "sec/op", quickData, slower)
	if code != 1 || !strings.Contains(out, "### spillbench comparison: **") || !strings.Contains(out, ":x:") {
		t.Fatalf("markdown: exit %d\n%s", code, out)
	}
	for _, f := range []string{"csv", "json"} {
		if code, out, _ := run("compare", "--format", f, quickData, slower); code != 1 || len(out) == 0 {
			t.Errorf("%s: exit %d", f, code)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"compare", quickData}, "exactly two"},
		{[]string{"compare", "--threshold", "lots", quickData, slower}, "--threshold"},
		{[]string{"compare", "--threshold", "5", quickData, slower}, "ambiguous"},
		{[]string{"compare", "--alpha", "2", quickData, slower}, "--alpha"},
		{[]string{"compare", "--format", "xml", quickData, slower}, "--format"},
		{[]string{"compare", quickData, t.TempDir()}, "not a spillbench result directory"},
	} {
		code, _, stderr := run(tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d %q", tc.args, code, stderr)
		}
	}
}

// The store is append-only, and show says when it has too few entries to
// find a change. (Detection itself: history_test.go, reports/history_test.go.)
func TestHistoryAddIsAppendOnly(t *testing.T) {
	store := filepath.Join(t.TempDir(), "hist")
	same := copyResultDir(t, quickData, "nothing", nil)
	for i, dir := range []string{quickData, same} {
		if code, out, errOut := run("history", "add", dir, "--store", store, "--commit", fmt.Sprintf("c0mm1t%d", i)); code != 0 {
			t.Fatalf("history add %s: exit %d %s %s", dir, code, out, errOut)
		}
	}
	if code, _, errOut := run("history", "add", quickData, "--store", store, "--commit", "c0mm1t0"); code == 0 || !strings.Contains(errOut, "append-only") {
		t.Fatalf("adding the same entry twice: exit %d %q", code, errOut)
	}
	code, out, errOut := run("history", "show", "--store", store, "--metric", "ns/op")
	if code != 0 || !strings.Contains(out, "c0mm1t1") || !strings.Contains(out, "trend-sec-op.svg") {
		t.Fatalf("history show of two entries: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestListAndInject(t *testing.T) {
	code, out, _ := run("list")
	if code != 0 || !strings.Contains(out, "injectors on this host") || !strings.Contains(out, "quick") {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
	dir := filepath.Join(t.TempDir(), "inj")
	code, out, errOut := run("inject", "--mechanisms", "mock", "--modes", "eio,enoent", "--count", "2", "-q", "--out", dir)
	if code != 0 || !strings.Contains(out, "(complete): 5 cells") || !strings.Contains(out, "report.md") {
		t.Fatalf("inject: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := run("inject", "--mechanisms", "nope"); code != 2 || !strings.Contains(errOut, "spillbench list") {
		t.Fatalf("inject with no match: exit %d %q", code, errOut)
	}
}

func TestCalibrate(t *testing.T) {
	t.Chdir(t.TempDir()) // calibrate writes under ./out
	os.WriteFile("tiny.yaml", []byte("name: tiny\ncount: 6\nworkload:\n  - {name: mix, items: 300}\nthreshold: [2KiB]\n"), 0o644)
	code, out, errOut := run("calibrate", "--spec", "tiny.yaml", "-q", "--metric", "ns/op")
	if code != 0 || !strings.Contains(out, "recommend: spillbench compare --metric sec/op --threshold") {
		t.Fatalf("calibrate: exit %d\n%s\n%s", code, out, errOut)
	}
	// Each side ran pinned to one CPU, the last this process may use,
	// with as many Ps as CPUs.
	allowed := bench.AllowedCPUs()
	envs, _ := filepath.Glob("out/calibrate-*/[ab]/p00/env.json")
	if len(envs) != 2 {
		t.Fatalf("calibrate wrote %v; want an env.json a side", envs)
	}
	for _, p := range envs {
		var env bench.Env
		b, _ := os.ReadFile(p)
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatal(err)
		}
		if len(allowed) > 1 && (len(env.PinnedCPUs) != 1 || env.PinnedCPUs[0] != allowed[len(allowed)-1] || env.GOMAXPROCS != 1) {
			t.Errorf("%s: pinned to %v with GOMAXPROCS %d; want CPU %d alone", p, env.PinnedCPUs, env.GOMAXPROCS, allowed[len(allowed)-1])
		}
	}
	if !strings.Contains(out, "runs interleaved") || len(allowed) > 1 && !strings.Contains(out, "pinned to CPU") {
		t.Errorf("calibrate does not say how it ran the sweeps:\n%s", out)
	}
	// A new pair of processes for every repetition, by default; with
	// --per-process 0, one pair for all of them.
	if batches, _ := filepath.Glob("out/calibrate-*/a/p*"); len(batches) != 6 || !strings.Contains(out, "a new pair of processes for every repetition") {
		t.Errorf("calibrate of 6 repetitions ran side a in %d processes, and said\n%s\nwant 6, a pair a repetition", len(batches), out)
	}
	os.RemoveAll("out")
	code, out, errOut = run("calibrate", "--spec", "tiny.yaml", "-q", "--metric", "ns/op", "--per-process", "0")
	if batches, _ := filepath.Glob("out/calibrate-*/a/p*"); code != 0 || len(batches) != 1 || !strings.Contains(out, "all in one pair of processes") {
		t.Errorf("calibrate --per-process 0: exit %d, side a in %d processes, said\n%s%s\nwant one pair", code, len(batches), out, errOut)
	}
	for _, bad := range []string{"none", "99999", "1-0"} {
		code, _, errOut := run("calibrate", "--spec", "tiny.yaml", "--cpus", bad)
		if code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "--cpus") {
			t.Errorf("calibrate --cpus %s: exit %d, %q; want exit 2 and one line", bad, code, errOut)
		}
	}
}
