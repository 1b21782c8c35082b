package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spillbench/spillbench/injectors"
)

// buildBinary builds spillbench into a new temp dir and returns both.
func buildBinary(t *testing.T) (dir, bin string) {
	t.Helper()
	dir = t.TempDir()
	bin = filepath.Join(dir, "spillbench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir, bin
}

// TestBuiltBinary builds spillbench and runs it as a user would: the
// happy paths of run, report, compare and list, and the exit status and
// single line of a usage error.
func TestBuiltBinary(t *testing.T) {
	dir, bin := buildBinary(t)
	spec := filepath.Join(dir, "tiny.yaml")
	os.WriteFile(spec, []byte("name: tiny\ncount: 8\nworkload:\n  - {name: hol, items: 300, scale: 0.05}\nthreshold: [2KiB]\n"), 0o644)
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
	exe(0, "compare", "--threshold", "1000%", "a", "b") // plumbing: no noise reaches 1000%
	// The report's reproduce line works as written.
	md, err := os.ReadFile(filepath.Join(dir, "a", "report", "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, line, ok := strings.Cut(string(md), "Reproduce: `spillbench ")
	run, report, ok2 := strings.Cut(line, "`, then `spillbench ")
	if !ok || !ok2 {
		t.Fatalf("report.md has no reproduce line of a run and a report:\n%s", md)
	}
	exe(0, append(strings.Fields(run), "-q")...)
	report, _, _ = strings.Cut(report, "`")
	if out := exe(0, strings.Fields(report)...); !strings.Contains(out, filepath.Join("a-again", "report", "report.md")) {
		t.Fatalf("following the reproduce line: %s", out)
	}
	// ab: the binary against itself, repetitions interleaved; the two
	// result directories carry one lockstep token, so compare pairs them.
	if out := exe(0, "ab", "--base", bin, "--head", bin, "--spec", spec, "--out", "ab", "--threshold", "1000%", "-q"); !strings.Contains(out, "pair by pair") {
		t.Fatalf("ab did not compare pair by pair:\n%s", out)
	}
	var tokens []string
	for _, side := range []string{"base", "head"} {
		env, err := os.ReadFile(filepath.Join(dir, "ab", side, "p00", "env.json"))
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Lockstep string }
		if err := json.Unmarshal(env, &e); err != nil || e.Lockstep == "" {
			t.Fatalf("ab/%s/p00/env.json has no lockstep token: %v\n%s", side, err, env)
		}
		tokens = append(tokens, e.Lockstep)
	}
	if tokens[0] != tokens[1] {
		t.Fatalf("the sides of one ab run recorded tokens %q", tokens)
	}
	exe(2, "run", "--lockstep", "x", "--spec", spec, "--out", "direct")                          // not for direct use
	exe(2, "ab", "--base", "/bin/true", "--head", bin, "--spec", spec, "--out", "ab-true", "-q") // not a side that takes turns
	exe(0, "list")
	exe(0, "version")
	out := exe(2, "run", "--count", "x")
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "spillbench: ") || strings.Contains(out, "goroutine") {
		t.Fatalf("usage error output %q: want one line, no stack trace", out)
	}
	exe(2, "nosuchcommand")
}

// TestABBuildsARevision runs ab as CI does, with the base named by a git
// revision: it checks the revision out in a temporary worktree, builds
// it, runs it interleaved with the head, and removes the worktree.
func TestABBuildsARevision(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf(".ci/run installs git: %v", err)
		}
		t.Skip(err)
	}
	worktrees := func() string {
		out, err := exec.Command("git", "worktree", "list", "--porcelain").Output()
		if err != nil {
			t.Skipf("not in a git checkout ab could build from: %v", err)
		}
		return string(out)
	}
	before := worktrees()
	dir, bin := buildBinary(t)
	spec := filepath.Join(dir, "tiny.yaml")
	os.WriteFile(spec, []byte("name: tiny\ncount: 8\nworkload:\n  - {name: mix, items: 300}\nthreshold: [2KiB]\n"), 0o644)
	// The test is about building and cleaning up, not about the
	// comparison: the threshold is out of reach of a loaded machine's
	// noise (a CI run saw +60% between two builds of one commit).
	cmd := exec.Command(bin, "ab", "--base", "HEAD", "--head", bin, "--spec", spec, "--out", filepath.Join(dir, "ab"), "--threshold", "1000%")
	tmp := t.TempDir() // its own, so that the check below sees only ab's
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ab --base HEAD: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "building HEAD") || !strings.Contains(string(out), "pair by pair") {
		t.Fatalf("ab --base HEAD said:\n%s", out)
	}
	if after := worktrees(); after != before {
		t.Fatalf("ab left a worktree behind:\nbefore\n%s\nafter\n%s", before, after)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "spillbench-ab-*")); len(left) > 0 {
		t.Fatalf("ab left its build directories: %v", left)
	}
}

// TestBuiltBinaryInterrupt interrupts a run that holds a FUSE mount, as a
// user pressing Ctrl-C would: once (the run winds down and the result
// directory says it was interrupted) and twice in a row (the second
// releases what the injectors hold and exits). Either way the exit status
// is 130 and nothing the run mounted or opened is left on the host.
func TestBuiltBinaryInterrupt(t *testing.T) {
	if err := injectors.NewFuse().Probe(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI runs as root with /dev/fuse: %v", err)
		}
		t.Skip(err)
	}
	dir, bin := buildBinary(t)
	spec := filepath.Join(dir, "slow.yaml")
	os.WriteFile(spec, []byte(`name: slow
count: 1000
workload:
  - {name: hol, items: 1000, scale: 0.05}
threshold: [4KiB]
fault:
  - {injector: fuse, mode: latency, latency: 1ms, persistent: true}
`), 0o644)
	for _, signals := range []int{1, 2} {
		t.Run(fmt.Sprintf("signals=%d", signals), func(t *testing.T) {
			before := injectors.CurrentHostState()
			out := filepath.Join(dir, fmt.Sprint("out", signals))
			cmd := exec.Command(bin, "run", "--spec", spec, "--out", out, "--profiles", "none")
			cmd.Dir = dir
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			said := make(chan []string)
			go func() {
				var lines []string
				sc := bufio.NewScanner(stderr)
				sc.Split(scanProgress)
				for sc.Scan() {
					lines = append(lines, sc.Text())
				}
				said <- lines
			}()
			// Wait for the run's FUSE mount, then let a run get under way.
			for deadline := time.Now().Add(time.Minute); len(newMounts(before)) == 0; {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("no mount appeared in a minute; it said:\n%s", strings.Join(<-said, "\n"))
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond)
			for i := range signals {
				if i > 0 {
					time.Sleep(20 * time.Millisecond)
				}
				cmd.Process.Signal(syscall.SIGINT) // it may already have exited
			}
			lines := <-said
			err = cmd.Wait()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
				t.Fatalf("exit: %v, want status 130; it said:\n%s", err, strings.Join(lines, "\n"))
			}
			if signals == 1 {
				env, err := os.ReadFile(filepath.Join(out, "env.json"))
				if err != nil || !strings.Contains(string(env), `"interrupted": true`) {
					t.Fatalf("env.json after one Ctrl-C does not say interrupted: %v\n%s", err, env)
				}
			}
			if leaks := before.LeaksNowOf(cmd.Process.Pid); len(leaks) > 0 {
				t.Fatalf("left on the host after the interrupt: %v", leaks)
			}
		})
	}
}

// newMounts lists the mount points that were not there before.
func newMounts(before injectors.HostState) []string {
	var added []string
	for _, m := range injectors.CurrentHostState().Mounts {
		if !slices.Contains(before.Mounts, m) {
			added = append(added, m)
		}
	}
	return added
}

// scanProgress splits progress output at newlines and carriage returns.
func scanProgress(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
