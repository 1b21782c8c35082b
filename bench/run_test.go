package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"go.uber.org/goleak"
	"golang.org/x/perf/benchfmt"

	"github.com/spillbench/spillbench/injectors"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tinySpec is a sweep small enough for a unit test that still has every
// kind of cell: engine cells with and without a fault, and ring cells.
const tinySpec = `
name: tiny
count: 2
warmup: 1
timeout: 20s
workload:
  - {name: mix, items: 600}
  - {name: hol, items: 300, scale: 0.05}
threshold: [2KiB]
granularity: [batch, item]
fault:
  - none
  - {injector: mock, mode: eio, nth: 2, workloads: [hol]}
  - {injector: tmpfs, mode: enospc, after: 16KiB, workloads: [hol]}
`

func parseTiny(t *testing.T) *Spec {
	t.Helper()
	s, err := ParseSpec("tiny.yaml", []byte(tinySpec))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readOutcomes reads outcomes.jsonl.
func readOutcomes(t *testing.T, dir string) []Outcome {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "outcomes.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Outcome
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var o Outcome
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("outcomes.jsonl line %d: %v", len(out)+1, err)
		}
		out = append(out, o)
	}
	return out
}

// readResults parses results.txt and returns the benchmark names.
func readResults(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "results.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	r := benchfmt.NewReader(f, "results.txt")
	for r.Scan() {
		switch rec := r.Result().(type) {
		case *benchfmt.Result:
			names = append(names, string(rec.Name.Full()))
		case *benchfmt.SyntaxError:
			t.Fatalf("results.txt: %v", rec)
		}
	}
	return names
}

// readProfile parses a profile file as pprof does.
func readProfile(t *testing.T, path string) *profile.Profile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	prof, err := profile.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return prof
}

func readEnv(t *testing.T, dir string) Env {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e Env
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestQuickSweepEndToEnd(t *testing.T) {
	before := injectors.CurrentHostState()
	// Spill directories go under TMPDIR: a private one, so that sweeps
	// other packages' tests run meanwhile cannot look like ours.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	spec := parseTiny(t)
	dir := filepath.Join(t.TempDir(), "out")
	sum, err := Run(context.Background(), spec, Options{Out: dir})
	if err != nil {
		t.Fatal(err)
	}
	cells := spec.Cells()
	outcomes := readOutcomes(t, dir)
	if len(outcomes) != len(cells)*spec.Count {
		t.Fatalf("%d outcomes for %d cells x %d repetitions", len(outcomes), len(cells), spec.Count)
	}
	ok := 0
	for _, o := range outcomes {
		switch {
		case o.Status == StatusOK:
			ok++
		case o.Status == StatusSkipped:
			if os.Geteuid() == 0 && os.Getenv("CI") != "" {
				t.Errorf("%s skipped on CI: %s", o.Cell, o.Reason)
			}
		case o.Status == StatusError && o.Fault != nil:
			if !o.Fault.Fired || o.ExitCode != 11 {
				t.Errorf("%s: %+v", o.Cell, o)
			}
		default:
			t.Errorf("%s rep %d: status %s %s %s", o.Cell, o.Rep, o.Status, o.Reason, o.Error)
		}
		if o.Lost+o.Duplicated+o.Corrupted != 0 {
			t.Errorf("%s: items lost", o.Cell)
		}
	}
	names := readResults(t, dir)
	engineLines := 0
	for _, n := range names {
		if strings.HasPrefix(n, "Engine/") || strings.HasPrefix(n, "Ring/") {
			engineLines++
		}
	}
	if engineLines != ok {
		t.Fatalf("%d engine and ring result lines for %d ok outcomes", engineLines, ok)
	}
	if !strings.Contains(strings.Join(names, "\n"), "RawFS/") {
		t.Fatal("no RawFS limit lines")
	}
	env := readEnv(t, dir)
	if !env.Complete || env.Interrupted || env.Recorded+env.Skipped != len(outcomes) || env.Overhead <= 0 || env.Overhead >= 1 || env.Commit == "" {
		t.Fatalf("env.json: %+v", env)
	}
	if sum.Env.Cells != len(cells) {
		t.Fatalf("summary: %+v", sum)
	}
	// Every engine cell that ran has a CPU and a heap profile pprof reads.
	profiles, _ := filepath.Glob(filepath.Join(dir, "profiles", "*.pb.gz"))
	if len(profiles) == 0 {
		t.Fatal("no profiles")
	}
	for _, p := range profiles {
		prof := readProfile(t, p)
		if strings.HasSuffix(p, ".cpu.pb.gz") && prof.PeriodType.Type != "cpu" {
			t.Fatalf("%s: period type %v", p, prof.PeriodType)
		}
	}
	// The real benchstat reads the file and projects on a cell key.
	out, err := exec.Command("go", "tool", "benchstat", "-col", "/gran", filepath.Join(dir, "results.txt")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "batch") || !strings.Contains(string(out), "item") {
		t.Fatalf("benchstat -col /gran: %v\n%s", err, out)
	}
	if leaks := before.LeaksNow(); len(leaks) > 0 {
		t.Fatalf("leaked %v", leaks)
	}
	tmps, _ := filepath.Glob(filepath.Join(tmp, "spillbench-spill-*"))
	if len(tmps) > 0 {
		t.Fatalf("spill dirs left behind: %v", tmps)
	}
}

func TestInterruptedSweepLeavesAValidPartialDirectory(t *testing.T) {
	spec := parseTiny(t)
	spec.Count, spec.Warmup = 20, 0
	dir := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Interrupt once a few runs are recorded.
		for {
			if b, err := os.ReadFile(filepath.Join(dir, "outcomes.jsonl")); err == nil && strings.Count(string(b), "\n") >= 5 {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	_, err := Run(ctx, spec, Options{Out: dir})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want context.Canceled", err)
	}
	env := readEnv(t, dir)
	if env.Complete || !env.Interrupted {
		t.Fatalf("env.json of an interrupted sweep: complete %t interrupted %t", env.Complete, env.Interrupted)
	}
	outcomes := readOutcomes(t, dir)
	if len(outcomes) < 5 || len(outcomes) >= len(spec.Cells())*spec.Count {
		t.Fatalf("%d outcomes after an interrupt", len(outcomes))
	}
	readResults(t, dir) // parses
	if leftovers := injectors.Resources.Held(); len(leftovers) > 0 {
		t.Fatalf("resources still held: %v", leftovers)
	}
}

func TestRunRefusesANonEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
	if _, err := Run(context.Background(), parseTiny(t), Options{Out: dir}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Run into a non-empty directory: %v", err)
	}
	if b, _ := os.ReadDir(dir); len(b) != 1 {
		t.Fatal("Run wrote into a directory it refused")
	}
}
