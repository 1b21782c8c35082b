package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuiltBinary builds spillbench and runs it as a user would: the
// happy paths of run, report, compare and list, and the exit status and
// single line of a usage error.
func TestBuiltBinary(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "spillbench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	spec := filepath.Join(dir, "tiny.yaml")
	os.WriteFile(spec, []byte("name: tiny\ncount: 2\nworkload:\n  - {name: hol, items: 300, scale: 0.05}\nthreshold: [2KiB]\n"), 0o644)
	exe := func(wantCode int, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != wantCode {
			t.Fatalf("spillbench %v: exit %d, want %d\n%s", args, code, wantCode, out)
		}
		return string(out)
	}
	exe(0, "run", "--spec", spec, "--out", "a", "-q")
	exe(0, "run", "--spec", spec, "--out", "b", "-q")
	if out := exe(0, "report", "a"); !strings.Contains(out, filepath.Join("a", "report", "report.md")) {
		t.Fatalf("report: %s", out)
	}
	exe(0, "compare", "--threshold", "50%", "a", "b")
	exe(0, "list")
	exe(0, "version")
	out := exe(2, "run", "--count", "x")
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "spillbench: ") || strings.Contains(out, "goroutine") {
		t.Fatalf("usage error output %q: want one line, no stack trace", out)
	}
	exe(2, "nosuchcommand")
}
