package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spillbench/spillbench/injectors"
	"github.com/spillbench/spillbench/reports"
)

// hangSpec is an external target that starts a child and waits for it,
// forever, on the fallocate mechanism's loop-mounted ext4 (a mount and a
// loop device to release), with a fault that does not fire.
const hangSpec = `name: hang
count: 1
target:
  name: hang
  command: "sleep 1000 & touch {spill_dir}/started; wait"
  time-limit: 10m
  verify: {command: "true"}
input:
  - {name: empty, command: ": > {input}"}
threshold: [1KiB]
fault:
  - {injector: fallocate, mode: enospc, after: 16MiB}
`

// startHang starts the built binary on hangSpec, with a temp dir of its
// own (so cleanup touches no one else's), and returns once the target is
// running in its spill directory.
func startHang(t *testing.T) (cmd *exec.Cmd, bin, out, tmp string, before injectors.HostState) {
	t.Helper()
	if err := injectors.NewFallocate().Probe(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI runs as root with loop devices: %v", err)
		}
		t.Skip(err)
	}
	dir, bin := buildBinary(t)
	spec := filepath.Join(dir, "hang.yaml")
	if err := os.WriteFile(spec, []byte(hangSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	before = injectors.CurrentHostState()
	out = filepath.Join(dir, "out")
	tmp = filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(bin, "run", "--spec", spec, "--out", out, "-q")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	for deadline := time.Now().Add(time.Minute); ; {
		started, _ := filepath.Glob(filepath.Join(tmp, "spillbench-inj-fallocate-*", "mnt", "spill", "started"))
		if slices.ContainsFunc(started, func(f string) bool {
			b, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(f))), ".spillbench-injector"))
			return err == nil && strings.TrimSpace(string(b)) == pid
		}) {
			return cmd, bin, out, tmp, before
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("the target did not start in a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// leftBy lists what the spillbench process pid, run with TMPDIR=tmp,
// left: its work dirs, the mounts and loop devices in them, processes
// working there, and mounts and loop devices under tmp that appeared
// since before.
func leftBy(tmp string, pid int, before injectors.HostState) []string {
	left := injectors.LeftBy(tmp, pid)
	for _, l := range before.LeaksNow() {
		if strings.HasPrefix(l, "mount "+tmp+"/") || strings.HasPrefix(l, "loop ") && strings.Contains(l, " "+tmp+"/") {
			left = append(left, l)
		}
	}
	return left
}

// interruptedGroup is the process group the interrupted run recorded.
func interruptedGroup(t *testing.T, out string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "outcomes.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		Status   string `json:"status"`
		External struct {
			PGID int `json:"pgid"`
		} `json:"external"`
	}
	if err := json.Unmarshal(b, &o); err != nil || o.Status != "interrupted" || o.External.PGID == 0 {
		t.Fatalf("outcome of the interrupted run (%v): %s", err, b)
	}
	return o.External.PGID
}

// TestBuiltBinaryInterruptExternal sends Ctrl-C to spillbench while an
// external target runs: the target's group (the shell and its child),
// the ext4 mount, its loop device and every temp dir are gone when
// spillbench exits, and the run is recorded as interrupted.
func TestBuiltBinaryInterruptExternal(t *testing.T) {
	cmd, _, out, tmp, before := startHang(t)
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit: %v, want status 130", err)
	}
	pgid := interruptedGroup(t, out)
	if injectors.GroupAlive(pgid) {
		t.Errorf("process group %d outlived the sweep", pgid)
	}
	if left := leftBy(tmp, cmd.Process.Pid, before); len(left) > 0 {
		t.Errorf("left behind after Ctrl-C: %v", left)
	}
}

// TestCleanupAfterKilledExternalSweep kills spillbench outright while an
// external target runs: the shell dies with it (its parent-death
// signal), its child lives on in the group, holding the ext4 mount;
// spillbench cleanup ends it and removes the mount, the loop device and
// the dirs.
func TestCleanupAfterKilledExternalSweep(t *testing.T) {
	cmd, bin, _, tmp, before := startHang(t)
	cmd.Process.Kill()
	cmd.Wait()
	pid := cmd.Process.Pid
	if left := injectors.LeftBy(tmp, pid); !slices.ContainsFunc(left, func(l string) bool { return strings.HasPrefix(l, "process ") }) {
		t.Fatalf("after SIGKILL the target's child should still run, holding its dirs; left: %v", left)
	}
	clean := exec.Command(bin, "cleanup")
	clean.Env = append(os.Environ(), "TMPDIR="+tmp)
	got, err := clean.CombinedOutput()
	if err != nil {
		t.Fatalf("cleanup: %v\n%s", err, got)
	}
	if !strings.Contains(string(got), "removed process group") {
		t.Errorf("cleanup did not say it ended the target's group:\n%s", got)
	}
	if left := leftBy(tmp, pid, before); len(left) > 0 {
		t.Errorf("left after cleanup: %v\ncleanup said:\n%s", left, got)
	}
}

func TestExternalSpecErrorIsOneLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "x.yaml")
	os.WriteFile(bad, []byte("name: x\ntarget:\n  name: t\n  command: sort -T {spill_dir} -S {thresh}\ninput: [{name: a, generate: lines, size: 1KiB}]\n"), 0o644)
	code, stdout, stderr := run("run", "--spec", bad, "--out", filepath.Join(dir, "out"))
	if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "x.yaml:4: target command: unknown placeholder {thresh}") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// sortSpec writes a small GNU sort spec, with extra appended (its faults),
// into a new temp dir, and returns both. It needs a tmpfs (root): it
// skips where there is none, and fails on CI.
func sortSpec(t *testing.T, extra string) (dir, spec string) {
	t.Helper()
	if err := injectors.NewTmpfs().Probe(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI runs as root: %v", err)
		}
		t.Skip(err)
	}
	dir = t.TempDir()
	spec = filepath.Join(dir, "sort.yaml")
	if err := os.WriteFile(spec, []byte(`name: sort-small
count: 2
target:
  name: sort
  command: LC_ALL=C sort -S {threshold}b -T {spill_dir} -o {output} {input}
  clean-exit: [2]
input:
  - {name: lines-1MiB, generate: lines, size: 1MiB}
threshold: [64KiB, 4MiB]
`+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, spec
}

// TestExternalRunAndReport runs a small sort sweep from the command line
// and reports it: threshold plots, the fault matrix with a fault sort
// reported and one not applicable to it, and the efficiency table.
func TestExternalRunAndReport(t *testing.T) {
	dir, spec := sortSpec(t, `fault:
  - none
  - {injector: tmpfs, mode: enospc, after: 128KiB, thresholds: [64KiB]}
  - {injector: mock, mode: eio, thresholds: [64KiB]}
`)
	out := filepath.Join(dir, "out")
	if code, stdout, stderr := run("run", "--spec", spec, "--out", out, "-q"); code != 0 || !strings.Contains(stdout, "(complete)") {
		t.Fatalf("run: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := run("report", "--format", "md", out); code != 0 {
		t.Fatalf("report: exit %d: %s", code, stderr)
	}
	md, err := os.ReadFile(filepath.Join(out, "report", "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"plots/lines-1MiB-throughput.svg", "plots/lines-1MiB-spill-bytes.svg", "plots/fault-matrix.svg",
		"| `tmpfs:enospc` | clean typed error | 2 | ENOSPC |", "| `mock:eio` | not applicable |",
		"| `target=sort/workload=lines-1MiB/threshold=64KiB` |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}

	// compare (and calibrate and history, which share its default) takes
	// an external target's cells as it takes the engine's.
	var sides []string
	for _, name := range []string{"a", "b"} {
		side := filepath.Join(dir, name)
		if code, stdout, stderr := run("run", "--spec", spec, "--count", "6", "--out", side, "-q"); code != 0 {
			t.Fatalf("run %s: exit %d\n%s%s", name, code, stdout, stderr)
		}
		sides = append(sides, side)
	}
	code, stdout, stderr := run("compare", "--threshold", "200%", sides[0], sides[1])
	if code != 0 || !strings.Contains(stdout, "External/target=sort/workload=lines-1MiB/threshold=64KiB/fault=none") ||
		!strings.Contains(stdout, "sec/op") || strings.Contains(stdout, "items/s") {
		t.Fatalf("compare of two sort runs: exit %d\n%s%s", code, stdout, stderr)
	}
}

// inject --spec faults an external target, not the engine: every
// mechanism and mode asked for, at the spec's smallest threshold. A
// kernel fault reaches the program; mock and failpoint are reported as
// not applicable to it, with the reason; the report is written.
func TestInjectAnExternalTarget(t *testing.T) {
	dir, spec := sortSpec(t, "")
	out := filepath.Join(dir, "inj")
	code, stdout, stderr := run("inject", "--spec", spec, "--mechanisms", "tmpfs,mock", "--modes", "enospc,eio", "--count", "2", "-q", "--out", out)
	if code != 0 || !strings.Contains(stdout, "report.md") {
		t.Fatalf("inject --spec: exit %d\n%s%s", code, stdout, stderr)
	}
	set, err := reports.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	byFault := map[string][]string{}
	for _, o := range set.Outcomes() {
		if !strings.HasPrefix(o.Cell, "External/target=sort/") || !strings.Contains(o.Cell, "threshold=64KiB") {
			t.Errorf("inject --spec ran %s; want the target at its smallest threshold only", o.Cell)
		}
		byFault[o.Keys["fault"]] = append(byFault[o.Keys["fault"]], o.Status)
	}
	for fault, want := range map[string]string{"tmpfs:enospc": "error", "mock:eio": "not-applicable", "none": "ok"} {
		got := byFault[fault]
		if len(got) == 0 || slices.ContainsFunc(got, func(s string) bool { return s != want }) {
			t.Errorf("%s: statuses %v, want %s in every repetition", fault, got, want)
		}
	}
	if code, _, stderr := run("inject", "--spec", filepath.Join(dir, "nope.yaml"), "-q", "--out", filepath.Join(dir, "x")); code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("inject --spec of a missing file: exit %d, %q; want 2 and one line", code, stderr)
	}
}
