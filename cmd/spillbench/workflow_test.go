package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rhysd/actionlint"
	"gopkg.in/yaml.v3"

	"github.com/spillbench/spillbench/bench"
)

// The CI workflow, the script that holds its steps, and the Kubernetes
// example, from this package's directory.
const (
	workflowFile = "../../.github/workflows/spillbench-regression.yml"
	ciScript     = "../../.github/spillbench-ci.sh"
	k8sExample   = "../../examples/kubernetes"
)

// TestWorkflowLints runs actionlint on the workflow, as its command line
// would without shellcheck (the script the steps call is checked by
// TestCIScript instead), and fails on any finding. It also checks what
// actionlint cannot: that the sharded job's matrix has SHARDS entries,
// and that the pull request path filter covers the files the check runs.
func TestWorkflowLints(t *testing.T) {
	var out bytes.Buffer
	l, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{Color: actionlint.ColorOptionKindNever})
	if err != nil {
		t.Fatal(err)
	}
	findings, err := l.LintFile(workflowFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Errorf("actionlint: %s:%d:%d: %s [%s]", filepath.Base(f.Filepath), f.Line, f.Column, f.Message, f.Kind)
	}
	if t.Failed() {
		t.Logf("actionlint said:\n%s", out.String())
	}

	b, err := os.ReadFile(workflowFile)
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		Uses, Run string
	}
	type job struct {
		Env      map[string]string
		Strategy struct {
			Matrix map[string][]any
		}
		Steps []step
	}
	var wf struct {
		On struct {
			PullRequest struct {
				Paths []string
			} `yaml:"pull_request"`
		}
		Jobs map[string]job
	}
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatal(err)
	}
	shard := wf.Jobs["shard"]
	if n, err := strconv.Atoi(shard.Env["SHARDS"]); err != nil || n != len(shard.Strategy.Matrix["shard"]) {
		t.Errorf("the shard job has SHARDS %q and %d matrix entries %v; they must agree", shard.Env["SHARDS"], len(shard.Strategy.Matrix["shard"]), shard.Strategy.Matrix["shard"])
	}
	for _, p := range []string{"**.go", "go.mod", "go.sum", "bench/specs/**", ".github/workflows/" + filepath.Base(workflowFile), ".github/" + filepath.Base(ciScript)} {
		if !slices.Contains(wf.On.PullRequest.Paths, p) {
			t.Errorf("pull_request paths %q do not include %q", wf.On.PullRequest.Paths, p)
		}
	}
	calls := func(j job, sub string) bool {
		return slices.ContainsFunc(j.Steps, func(s step) bool {
			return strings.HasPrefix(s.Run, ".github/"+filepath.Base(ciScript)+" "+sub+" ")
		})
	}
	if !calls(wf.Jobs["ab"], "ab") || !calls(wf.Jobs["ab"], "comment") || !calls(wf.Jobs["nightly"], "trend") {
		t.Errorf("the ab and nightly jobs no longer call %s ab, comment and trend: TestCIScript tests what CI does not run", ciScript)
	}
}

// TestCIScript runs the workflow's ab and trend steps, the script CI
// calls, in a clone of this repository's HEAD with a spec of one small
// cell: an A/A comparison passes, a bad flag is an error (exit 2) and not
// a regression, and a planted slowdown is a regression (exit 1). It runs
// the script as GitHub Actions does, with GITHUB_ACTIONS, a step summary
// and a step output file, and checks that it leaves nothing in TMPDIR.
func TestCIScript(t *testing.T) {
	for _, tool := range []string{"git", "go", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf(".ci/run has %s: %v", tool, err)
			}
			t.Skipf("the script needs %s: %v", tool, err)
		}
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout to clone: %v", err)
	}
	head := gitTest(t, "", "rev-parse", "HEAD")

	// A clone of HEAD, not the working tree, which may be half edited;
	// the script under test is the working tree's.
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	gitTest(t, "", "clone", "--quiet", "--shared", "--no-checkout", strings.TrimSpace(string(top)), src)
	gitTest(t, src, "checkout", "--quiet", "--detach", head)
	body, err := os.ReadFile(ciScript)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(src, ".github"), 0o755)
	if err := os.WriteFile(filepath.Join(src, ".github", "spillbench-ci.sh"), body, 0o755); err != nil {
		t.Fatal(err)
	}

	// One cell, 8 interleaved pairs: Wilcoxon's signed-rank test needs 7
	// or more pairs to reach alpha 0.05 after Holm over the cell's two
	// metrics. About 2 s of sweep a run.
	spec := filepath.Join(tmp, "tiny.yaml")
	os.WriteFile(spec, []byte(`name: tiny
count: 8
benchtime: 50ms
profiles: none
workload:
  - {name: mix, items: 600}
threshold: [2KiB]
granularity: [item]
`), 0o644)

	summary, output, tmpdir := filepath.Join(tmp, "summary.md"), filepath.Join(tmp, "output"), t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GITHUB_") && !strings.HasPrefix(kv, "TMPDIR=") {
			env = append(env, kv)
		}
	}
	env = append(env, "GITHUB_ACTIONS=true", "GITHUB_STEP_SUMMARY="+summary, "GITHUB_OUTPUT="+output, "TMPDIR="+tmpdir)

	type result struct {
		code                         int
		stdout, stderr, status, md   string
		summary, output, annotations string
	}
	// script runs the script from the clone's root, as the workflow does,
	// with out, when given, as its result directory.
	script := func(out string, args ...string) result {
		t.Helper()
		os.WriteFile(summary, nil, 0o644)
		os.WriteFile(output, nil, 0o644)
		cmd := exec.Command(filepath.Join(".github", "spillbench-ci.sh"), args...)
		cmd.Dir, cmd.Env = src, env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		err := cmd.Run()
		var r result
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			r.code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		t.Logf("spillbench-ci.sh %s: exit %d in %v", strings.Join(args, " "), r.code, time.Since(start).Round(time.Millisecond))
		read := func(path string) string { b, _ := os.ReadFile(path); return string(b) }
		r.stdout, r.stderr = stdout.String(), stderr.String()
		r.summary, r.output = read(summary), read(output)
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(l, "::") {
				r.annotations += l + "\n"
			}
		}
		if out != "" {
			r.status, r.md = strings.TrimSpace(read(filepath.Join(out, "status"))), read(filepath.Join(out, "comparison.md"))
			if r.md == "" || !strings.Contains(r.summary, r.md) {
				t.Errorf("the step summary does not have comparison.md (%d bytes):\n%s", len(r.md), r.summary)
			}
		}
		return r
	}
	fail := func(r result, format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\nexit %d, status %q\nstdout:\n%s\nstderr:\n%s\ncomparison.md:\n%s", fmt.Sprintf(format, args...), r.code, r.status, r.stdout, r.stderr, r.md)
	}
	const table = "| benchmark | unit | base | head | change | p | could see |"

	// A/A: HEAD against its own merge base with HEAD. The threshold is
	// wide: the check is of the plumbing, not of the runner's noise.
	aa := filepath.Join(tmp, "aa")
	r := script(aa, "ab", "HEAD", aa, "--spec", spec, "--threshold", "1000%")
	if r.code != 0 || r.status != "ok" || !strings.Contains(r.md, table) || r.annotations != "" {
		fail(r, "A/A: want exit 0, status ok, the comparison table and no annotation")
	}
	for _, want := range []string{"status=ok", "exit-code=0", "merge-base=" + head} {
		if !strings.Contains(r.output, want+"\n") {
			fail(r, "A/A: step output %q has no %q", r.output, want)
		}
	}
	if !strings.Contains(r.md, head[:12]) {
		fail(r, "A/A: the comment does not name the commits compared (%.12s)", head)
	}

	// A bad flag: ab's exit 2 survives, as an error and not a regression.
	bad := filepath.Join(tmp, "bad")
	r = script(bad, "ab", "HEAD", bad, "--spec", spec, "--no-such-flag")
	if r.code != 2 || r.status != "error" || !strings.Contains(r.annotations, "::error title=spillbench error::") ||
		strings.Contains(r.annotations, "regression::") || !strings.Contains(r.md, "not a regression") || !strings.Contains(r.md, "no-such-flag") {
		fail(r, "a bad flag: want exit 2, reported as an error with ab's message")
	}
	if !strings.Contains(r.output, "status=error\nexit-code=2\n") {
		fail(r, "a bad flag: step output %q", r.output)
	}
	// A base that is no revision: an error too, before any sweep.
	nobase := filepath.Join(tmp, "nobase")
	if r = script(nobase, "ab", "no-such-revision", nobase, "--spec", spec); r.code != 2 || r.status != "error" || !strings.Contains(r.annotations, "title=spillbench error") {
		fail(r, "no merge base: want exit 2, reported as an error")
	}

	// A planted slowdown that makes the head four times slower: a
	// regression at a threshold of 20%. The effect is far larger than
	// the threshold so that a loaded machine, which widens the
	// intervals, cannot hide it; the check is of the plumbing.
	planted := filepath.Join(tmp, "planted")
	r = script(planted, "ab", "HEAD", planted, "--spec", spec, "--threshold", "20%", "-q", "--plant", "workload=mix=300%")
	if r.code != 1 || r.status != "regression" || !strings.Contains(r.annotations, "::error title=spillbench regression::") ||
		strings.Contains(r.annotations, "spillbench error") || !strings.Contains(r.md, table) || !strings.Contains(r.md, ":x:") {
		fail(r, "a planted slowdown: want exit 1, reported as a regression")
	}

	// The nightly job's trend step, on a history of the A/A run's head.
	bin := filepath.Join(tmp, "spillbench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	store := filepath.Join(tmp, "history")
	if out, err := exec.Command(bin, "history", "add", filepath.Join(aa, "ab", "head", "p00"), "--commit", head, "--store", store).CombinedOutput(); err != nil {
		t.Fatalf("history add: %v\n%s", err, out)
	}
	if r = script("", "trend", bin, store, "--metric", "items/s"); r.code != 0 || r.annotations != "" || !strings.Contains(r.summary, "### spillbench history") {
		fail(r, "trend of one night: want exit 0, the history in the summary")
	}
	if r = script("", "trend", bin, filepath.Join(tmp, "no-store")); r.code != 2 || !strings.Contains(r.annotations, "::error title=spillbench error::") {
		fail(r, "trend of no store: want exit 2, reported as an error")
	}

	if left, _ := os.ReadDir(tmpdir); len(left) > 0 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("left in TMPDIR: %v", names)
	}
	if wt := gitTest(t, src, "worktree", "list"); strings.Count(wt, "\n") > 0 {
		t.Errorf("a worktree of ab's is left:\n%s", wt)
	}
}

// gitTest runs git in dir (the current directory if empty) and returns
// its trimmed output.
func gitTest(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestKubernetesExample checks the Kubernetes example's YAML: every
// document parses and has a kind; the sweep is an Indexed Job whose pods
// run `spillbench run` with --shard $(JOB_COMPLETION_INDEX)/N, N as many
// as its completions, onto the shared volume; and the report Job merges
// exactly those N shards.
func TestKubernetesExample(t *testing.T) {
	type container struct {
		Name          string
		Image         string
		Command, Args []string
	}
	type doc struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string
		Metadata   struct{ Name string }
		Spec       struct {
			CompletionMode string `yaml:"completionMode"`
			Completions    int
			Parallelism    int
			Template       struct {
				Spec struct {
					InitContainers []container `yaml:"initContainers"`
					Containers     []container
					Volumes        []struct {
						PersistentVolumeClaim *struct {
							ClaimName string `yaml:"claimName"`
						} `yaml:"persistentVolumeClaim"`
					}
				}
			}
		}
	}
	files, err := filepath.Glob(filepath.Join(k8sExample, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no YAML in %s: %v", k8sExample, err)
	}
	var jobs []doc
	var claims []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for i := 0; ; i++ {
			var d doc
			if err := dec.Decode(&d); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: document %d: %v", filepath.Base(f), i, err)
			}
			if d.APIVersion == "" || d.Kind == "" || d.Metadata.Name == "" {
				t.Errorf("%s: document %d has no apiVersion, kind or metadata.name", filepath.Base(f), i)
			}
			switch d.Kind {
			case "Job":
				jobs = append(jobs, d)
			case "PersistentVolumeClaim":
				claims = append(claims, d.Metadata.Name)
			}
		}
	}
	// argv is the container's command line; flag its flag's value.
	argv := func(c container) []string { return append(slices.Clone(c.Command), c.Args...) }
	flag := func(args []string, name string) string {
		if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
			return args[i+1]
		}
		return ""
	}
	var shards []string // the result directories of the sweep's pods, index substituted
	for _, j := range jobs {
		if j.Spec.CompletionMode != "Indexed" {
			continue
		}
		if len(shards) > 0 {
			t.Fatalf("two Indexed Jobs; the test knows one sweep")
		}
		n := j.Spec.Completions
		if n < 2 || j.Spec.Parallelism != n {
			t.Errorf("Job %s: completions %d, parallelism %d: want the same, 2 or more", j.Metadata.Name, n, j.Spec.Parallelism)
		}
		cs := j.Spec.Template.Spec.Containers
		if len(cs) != 1 {
			t.Fatalf("Job %s has %d containers; want the sweep alone", j.Metadata.Name, len(cs))
		}
		args := argv(cs[0])
		if len(args) < 2 || args[0] != "spillbench" || args[1] != "run" {
			t.Fatalf("Job %s runs %q; want spillbench run", j.Metadata.Name, args)
		}
		if want := fmt.Sprintf("$(JOB_COMPLETION_INDEX)/%d", n); flag(args, "--shard") != want {
			t.Errorf("Job %s: --shard %q; want %q, as many shards as completions", j.Metadata.Name, flag(args, "--shard"), want)
		}
		if _, err := bench.LoadSpec(flag(args, "--spec")); err != nil {
			t.Errorf("Job %s: --spec: %v", j.Metadata.Name, err)
		}
		out := flag(args, "--out")
		if !strings.Contains(out, "$(JOB_COMPLETION_INDEX)") || !strings.HasPrefix(out, "/results/") {
			t.Errorf("Job %s: --out %q; want a directory per index on the results volume", j.Metadata.Name, out)
		}
		for i := range n {
			shards = append(shards, strings.ReplaceAll(out, "$(JOB_COMPLETION_INDEX)", strconv.Itoa(i)))
		}
		// A retried pod starts its shard afresh: run refuses a non-empty --out.
		if ic := j.Spec.Template.Spec.InitContainers; len(ic) != 1 || !slices.Equal(argv(ic[0]), []string{"rm", "-rf", out}) {
			t.Errorf("Job %s: init containers %v; want one that removes %s", j.Metadata.Name, ic, out)
		}
	}
	if len(shards) == 0 {
		t.Fatal("no Job with completionMode: Indexed")
	}
	merged := false
	for _, j := range jobs {
		for _, c := range j.Spec.Template.Spec.Containers {
			if args := argv(c); len(args) > 2 && args[0] == "spillbench" && args[1] == "report" {
				merged = true
				if got := slices.DeleteFunc(slices.Clone(args[2:]), func(a string) bool { return !strings.HasPrefix(a, "/results/shard-") }); !slices.Equal(got, shards) {
					t.Errorf("Job %s reports %q; want every shard, %q", j.Metadata.Name, got, shards)
				}
			}
		}
		for _, v := range j.Spec.Template.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && !slices.Contains(claims, v.PersistentVolumeClaim.ClaimName) {
				t.Errorf("Job %s mounts claim %q; the example defines %q", j.Metadata.Name, v.PersistentVolumeClaim.ClaimName, claims)
			}
		}
	}
	if !merged {
		t.Error("no Job runs spillbench report over the shards")
	}
}
