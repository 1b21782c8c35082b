package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spillbench/spillbench/bench"
	"github.com/spillbench/spillbench/spill"
)

// run applies the SPILLBENCH_* spill overrides to the axes its spec
// leaves out: the cells are named by what ran, the spill directories go
// where SPILLBENCH_SPILL_DIR says, and env.json records each variable.
func TestRunAppliesSpillEnv(t *testing.T) {
	dir := t.TempDir()
	spillDir := filepath.Join(dir, "spill-here")
	if err := os.Mkdir(spillDir, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(dir, "tiny.yaml")
	os.WriteFile(spec, []byte("workload:\n  - {name: mix, items: 200}\ncompression: [none]\nprofiles: none\n"), 0o644)
	t.Setenv(spill.EnvThreshold, "8KiB")
	t.Setenv(spill.EnvCompression, "zstd")
	t.Setenv(spill.EnvDir, spillDir)
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	if code := spillbench(&stdout, &stderr, []string{"run", "--spec", spec, "--out", out, "-q"}); code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	results, err := os.ReadFile(filepath.Join(out, "results.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(results), "/threshold=8KiB/") || strings.Contains(string(results), "/threshold=64KiB/") ||
		!strings.Contains(string(results), "/comp=none/") {
		t.Fatalf("results.txt does not name the environment's threshold, or the spec's compression:\n%s", results)
	}
	b, err := os.ReadFile(filepath.Join(out, "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	var env bench.Env
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, o := range env.EnvOverrides {
		got[o.Var] = o.Applied
	}
	if len(got) != 3 || !got[spill.EnvThreshold] || got[spill.EnvCompression] || !got[spill.EnvDir] {
		t.Fatalf("env.json records %+v: want threshold and dir applied, compression not (the spec sets it)", env.EnvOverrides)
	}
	if ents, _ := os.ReadDir(spillDir); len(ents) != 0 {
		t.Errorf("left in the spill directory: %s", ents[0].Name())
	}

	t.Setenv(spill.EnvThreshold, "-1")
	stderr.Reset()
	if code := spillbench(&stdout, &stderr, []string{"run", "--spec", spec, "--out", filepath.Join(dir, "out2"), "-q"}); code != 2 ||
		strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), spill.EnvThreshold) {
		t.Fatalf("exit %d, stderr %q: want 2 and one line naming the variable", code, stderr.String())
	}
}

// A spec that cannot fit in memory is bad input: status 2 and one line
// naming the field and its line, not a crash with a stack trace.
func TestRunRefusesASpecTooLargeForMemory(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "huge.yaml")
	os.WriteFile(spec, []byte("workload:\n  - {name: mix, items: 1000000000000}\nfault:\n  - {injector: tmpfs, mode: enospc, after: 256KiB}\n"), 0o644)
	var stdout, stderr bytes.Buffer
	code := spillbench(&stdout, &stderr, []string{"run", "--spec", spec, "--out", filepath.Join(dir, "out"), "-q"})
	if code != 2 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "huge.yaml:2: workload mix (items 1000000000000") {
		t.Fatalf("exit %d, stderr %q: want 2 and one line naming items at line 2", code, stderr.String())
	}
}
