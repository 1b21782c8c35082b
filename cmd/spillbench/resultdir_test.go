package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// shared is one built spillbench for the tests that run it as a process
// and kill or starve it: one build instead of one each. TestMain removes
// it.
var shared builtBinary

type builtBinary struct {
	once     sync.Once
	dir, bin string
	err      error
}

func (b *builtBinary) remove() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

func sharedBinary(t *testing.T) string {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "spillbench-test-bin-")
		if shared.err != nil {
			return
		}
		shared.bin = filepath.Join(shared.dir, "spillbench")
		if out, err := exec.Command("go", "build", "-o", shared.bin, ".").CombinedOutput(); err != nil {
			shared.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.bin
}

// exitCodeOf is a finished command's exit status, -1 if it did not run.
func exitCodeOf(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// pairSpec runs long enough (about half a second) that two runs started
// together overlap for certain.
const pairSpec = "name: pair\ncount: 2\nbenchtime: 50ms\nwarmup: 0\nprofiles: none\nworkload:\n  - {name: mix, items: 300}\nthreshold: [2KiB]\n"

// Two runs started together on one --out: exactly one writes it, the
// other exits 2 at once with one line naming the PID that holds it.
// SPILLBENCH_PAIRED_STARTS=100 runs the full count.
func TestConcurrentRunsOnOneOut(t *testing.T) {
	pairs := 6
	if n, err := strconv.Atoi(os.Getenv("SPILLBENCH_PAIRED_STARTS")); err == nil && n > 0 {
		pairs = n
	}
	bin := sharedBinary(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "pair.yaml")
	os.WriteFile(spec, []byte(pairSpec), 0o644)
	good := 0
	for i := range pairs {
		out := filepath.Join(dir, fmt.Sprint("out", i))
		var cmds [2]*exec.Cmd
		var errOut [2]bytes.Buffer
		for j := range cmds {
			cmds[j] = exec.Command(bin, "run", "--spec", spec, "--out", out, "-q")
			cmds[j].Stderr = &errOut[j]
		}
		// Started back to back; which one locks first is the race.
		for _, c := range cmds {
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
		}
		var codes [2]int
		for j, c := range cmds {
			codes[j] = exitCodeOf(c.Wait())
		}
		win, lose := 0, 1
		if codes[1] == 0 {
			win, lose = 1, 0
		}
		holder := fmt.Sprintf("PID %d", cmds[win].Process.Pid)
		msg := errOut[lose].String()
		if codes[win] != 0 || codes[lose] != 2 || !strings.Contains(msg, holder) || strings.Count(msg, "\n") != 1 {
			t.Errorf("pair %d: exits %v; the loser said %q; want one 0 and one 2 naming %s", i, codes, msg, holder)
			continue
		}
		// The winner's files are its own: as many outcomes as it recorded.
		var env struct{ Recorded int }
		b, _ := os.ReadFile(filepath.Join(out, "env.json"))
		json.Unmarshal(b, &env)
		lines, _ := os.ReadFile(filepath.Join(out, "outcomes.jsonl"))
		if n := bytes.Count(lines, []byte("\n")); env.Recorded == 0 || n != env.Recorded {
			t.Errorf("pair %d: outcomes.jsonl has %d lines, env.json says %d recorded", i, n, env.Recorded)
			continue
		}
		good++
	}
	t.Logf("%d of %d paired starts: exactly one ran, the other exited 2 naming the holder", good, pairs)
}

// Runs without --out started in the same second get directories of
// their own.
func TestDefaultOutIsUnique(t *testing.T) {
	bin := sharedBinary(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "tiny.yaml")
	os.WriteFile(spec, []byte("name: tiny\ncount: 1\nwarmup: 0\nbenchtime: 0s\nprofiles: none\nworkload:\n  - {name: mix, items: 200}\nthreshold: [2KiB]\n"), 0o644)
	const n = 4
	var cmds [n]*exec.Cmd
	var outs [n]bytes.Buffer
	for i := range cmds {
		cmds[i] = exec.Command(bin, "run", "--spec", spec, "-q")
		cmds[i].Dir, cmds[i].Stdout, cmds[i].Stderr = dir, &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, outs[i].String())
		}
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "out"))
	if len(ents) != n {
		t.Fatalf("%d runs in the same second made %d result directories, want %d", n, len(ents), n)
	}
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, "out", e.Name(), "outcomes.jsonl"))
		if c := bytes.Count(b, []byte("\n")); c != 2 {
			t.Errorf("%s has %d outcomes, want its own 2", e.Name(), c)
		}
	}
}

// SIGTERM ends a run as SIGINT does, with the status a shell gives a
// process SIGTERM ended: 143.
func TestSIGTERMExits143(t *testing.T) {
	bin := sharedBinary(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "long.yaml")
	os.WriteFile(spec, []byte("name: long\ncount: 1000\nbenchtime: 100ms\nprofiles: none\nworkload:\n  - {name: mix, items: 300}\nthreshold: [2KiB]\n"), 0o644)
	out := filepath.Join(dir, "out")
	cmd := exec.Command(bin, "run", "--spec", spec, "--out", out, "-q")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, filepath.Join(out, "env.json"))
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitCodeOf(cmd.Wait()); code != 143 {
		t.Fatalf("after SIGTERM: exit %d, want 143; it said %q", code, stderr.String())
	}
}

// waitFor waits up to a minute for path to exist.
func waitFor(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear in a minute", path)
		}
	}
}

// SIGKILL at random moments of a sweep that writes profiles: whatever
// it leaves, report reads.
func TestSIGKILLLeavesAReadableDirectory(t *testing.T) {
	bin := sharedBinary(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "kill.yaml")
	os.WriteFile(spec, []byte("name: kill\ncount: 50\nbenchtime: 30ms\nprofiles: rep\nworkload:\n  - {name: mix, items: 300}\nthreshold: [2KiB]\n"), 0o644)
	// The killed runs' spill dirs go to a private TMPDIR, which cleanup
	// must empty after each kill.
	tmp := privateTmp(t)
	env := append(os.Environ(), "TMPDIR="+tmp)
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := range 4 {
		out := filepath.Join(dir, fmt.Sprint("out", i))
		cmd := exec.Command(bin, "run", "--spec", spec, "--out", out, "-q")
		cmd.Env = env
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, filepath.Join(out, "env.json"))
		at := time.Duration(r.IntN(800)) * time.Millisecond
		time.Sleep(at)
		cmd.Process.Kill()
		cmd.Wait()
		clean := exec.Command(bin, "cleanup")
		clean.Env = env
		if b, err := clean.CombinedOutput(); err != nil {
			t.Fatalf("cleanup after SIGKILL: %v\n%s", err, b)
		}
		if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
			t.Errorf("left in TMPDIR after SIGKILL %v into the sweep and cleanup: %s", at, ents[0].Name())
		}
		rep := exec.Command(bin, "report", "--format", "md", "--out", filepath.Join(dir, fmt.Sprint("rep", i)), out)
		if b, err := rep.CombinedOutput(); err != nil {
			t.Errorf("report after SIGKILL %v into the sweep: %v\n%s", at, err, b)
		}
	}
}

// A run whose --out is on a full disk, at fill levels from nothing free
// to nine tenths of what it writes: every result directory it leaves,
// report reads; where a file is torn, run said which, and report reads up
// to its last whole line. A run that could not start leaves nothing. The
// levels run side by side, each on a tmpfs of its own.
func TestFullDiskAtEveryFillLevel(t *testing.T) {
	bin := sharedBinary(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "fill.yaml")
	os.WriteFile(spec, []byte("name: fill\ncount: 2\nbenchtime: 5ms\nwarmup: 0\nprofiles: rep\nworkload:\n  - {name: mix, items: 300}\n  - {name: hol, items: 300, scale: 0.05}\nthreshold: [2KiB]\n"), 0o644)
	free := func(mnt string) int64 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(mnt, &st); err != nil {
			t.Error(err)
		}
		return int64(st.Bavail) * st.Bsize
	}
	// What a whole run takes on this filesystem.
	const levels = 10
	var mnts [levels]string
	for i := range mnts {
		mnts[i] = mountTmpfs(t, "1m")
	}
	empty := free(mnts[0])
	out := filepath.Join(mnts[0], "out")
	if b, err := exec.Command(bin, "run", "--spec", spec, "--out", out, "-q").CombinedOutput(); err != nil {
		t.Fatalf("the run with room: %v\n%s", err, b)
	}
	need := empty - free(mnts[0])
	os.RemoveAll(out)
	said := make([]string, levels)
	starved := make([]bool, levels)
	var wg sync.WaitGroup
	for i, mnt := range mnts {
		room := need * int64(i) / levels // 0 .. 90% of what it needs
		if err := os.WriteFile(filepath.Join(mnt, "fill"), make([]byte, max(free(mnt)-room, 0)), 0o644); err != nil && !errors.Is(err, syscall.ENOSPC) {
			t.Fatal(err)
		}
		wg.Go(func() {
			said[i], starved[i] = fillLevel(t, bin, spec, mnt, filepath.Join(dir, fmt.Sprint("rep", i)), fmt.Sprintf("level %d (%d of %d bytes free)", i, room, need))
		})
	}
	wg.Wait()
	n := 0
	for _, s := range starved {
		if s {
			n++
		}
	}
	t.Logf("a run needs %d bytes:\n%s", need, strings.Join(said, "\n"))
	if n < levels/2 {
		t.Errorf("only %d of %d fill levels starved the run: the test tests little", n, levels)
	}
}

// fillLevel runs spec into mnt/out and reports it into repDir; it says what happened,
// and whether the run failed for want of space.
func fillLevel(t *testing.T, bin, spec, mnt, repDir, level string) (string, bool) {
	out := filepath.Join(mnt, "out")
	runOut, runErr := exec.Command(bin, "run", "--spec", spec, "--out", out, "-q").CombinedOutput()
	code := exitCodeOf(runErr)
	level += fmt.Sprintf(": run exit %d", code)
	if strings.Count(string(runOut), "\n") == 0 || strings.Contains(string(runOut), "goroutine ") {
		t.Errorf("%s: run's output is not a clear line:\n%s", level, runOut)
	}
	if _, err := os.Stat(filepath.Join(out, "env.json")); errors.Is(err, os.ErrNotExist) {
		// It could not start: it must say so and leave nothing.
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a run that could not start left %s behind", level, out)
		}
		return level + ": could not start, left nothing", code != 0
	}
	rep := exec.Command(bin, "report", "--format", "md", "--out", repDir, out)
	repOut, err := rep.CombinedOutput()
	if err != nil {
		t.Errorf("%s: report cannot read what it left: %v\n%s\nrun said:\n%s", level, err, repOut, runOut)
	}
	for _, f := range []string{"results.txt", "outcomes.jsonl"} {
		if strings.Contains(string(repOut), f+": its last line is torn") && !strings.Contains(string(runOut), f) {
			t.Errorf("%s: report found %s torn, and run did not say so:\n%s", level, f, runOut)
		}
	}
	return fmt.Sprintf("%s, report read it (%d warnings)", level, strings.Count(string(repOut), "warning:")), code != 0
}
