package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{[]string{"run", "--spec", filepath.Join(dir, "missing.yaml")}, "quick, default, full"},
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
	if code != 0 || !strings.Contains(stdout, out+" (complete): 2 cells, 2 runs recorded, 0 skipped, 0 failed") {
		t.Fatalf("exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	for _, f := range []string{"results.txt", "outcomes.jsonl", "env.json", "spec.yaml"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestCleanup(t *testing.T) {
	code, out, _ := run("cleanup")
	if code != 0 || out == "" {
		t.Fatalf("cleanup: exit %d, %q", code, out)
	}
}

func TestReport(t *testing.T) {
	out := filepath.Join(t.TempDir(), "rep")
	code, stdout, stderr := run("report", "--out", out, "--format", "md", "../../reports/testdata/quick")
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
