package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// failingWriter is a standard output nobody can read: every write fails,
// as on a full disk (> /dev/full) or a closed pipe.
type failingWriter struct{ writes int }

func (w *failingWriter) Write([]byte) (int, error) {
	w.writes++
	return 0, syscall.ENOSPC
}

// Every command that prints its result to stdout fails when stdout
// cannot take it, with one line naming the failure, instead of exit 0.
func TestStdoutWriteErrorsExitNonZero(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir) // cleanup looks here only
	store := filepath.Join(dir, "hist")
	for i, f := range []string{"crc32-a.txt", "crc32-b.txt"} {
		if code, _, e := run("history", "add", "--store", store, "--commit", fmt.Sprint("c", i), filepath.Join("../../testdata/gobench", f)); code != 0 {
			t.Fatalf("history add: exit %d: %s", code, e)
		}
	}
	spec := filepath.Join(dir, "tiny.yaml")
	os.WriteFile(spec, []byte("name: tiny\ncount: 1\nworkload:\n  - {name: mix, items: 300}\nthreshold: [2KiB]\n"), 0o644)
	a, b := "../../testdata/gobench/crc32-a.txt", "../../testdata/gobench/crc32-b.txt"
	for _, args := range [][]string{
		{},
		{"help"},
		{"list"},
		{"version"},
		{"cleanup"},
		{"compare", "--threshold", "50%", a, b},
		{"compare", "--threshold", "50%", "--format", "markdown", a, b},
		{"history", "show", "--store", store, "--metric", "sec/op", "--out", filepath.Join(dir, "trend.svg")},
		{"run", "--spec", spec, "--out", filepath.Join(dir, "run"), "-q"},
	} {
		w := &failingWriter{}
		var stderr bytes.Buffer
		code := spillbench(w, &stderr, args)
		if w.writes == 0 {
			t.Errorf("%v wrote nothing to stdout: the case tests nothing", args)
			continue
		}
		if code == 0 || !strings.Contains(stderr.String(), "no space left on device") || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%v with a stdout that fails: exit %d, stderr %q; want a non-zero exit and one line naming the write error", args, code, stderr.String())
		}
	}
}

// The built binary, with stdout on /dev/full, as the issue reproduced it.
func TestStdoutFullDevice(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full here: ", err)
	}
	defer full.Close()
	bin := sharedBinary(t)
	for _, args := range [][]string{{"list"}, {"version"}, {"help"}} {
		cmd := exec.Command(bin, args...)
		cmd.Stdout = full
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("spillbench %v > /dev/full: %v, stderr %q; want a non-zero exit and one line", args, err, stderr.String())
		}
	}
}

func TestHelpOfEveryCommand(t *testing.T) {
	for _, c := range []string{"cleanup", "version", "list", "run", "report", "compare"} {
		code, stdout, stderr := run(c, "-h")
		if code != 0 || stdout != "" || !strings.Contains(stderr, "Usage of spillbench "+c) || !strings.Contains(stderr, "Examples:") {
			t.Errorf("%s -h: exit %d, stdout %q, stderr %q; want its usage on stderr", c, code, stdout, stderr)
		}
	}
}

// Input the run cannot use is a usage error: exit 2, one line, and
// nothing written.
func TestRunRefusesUnusableInput(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	spec := filepath.Join(dir, "tiny.yaml")
	os.WriteFile(spec, []byte("name: tiny\ncount: 1\nworkload:\n  - {name: mix, items: 300}\nthreshold: [2KiB]\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--spec", spec, "--cpus", "9999", "--out", filepath.Join(dir, "a")}, "CPU 9999 is not available"},
		{[]string{"run", "--spec", spec, "--out", filepath.Join(file, "out")}, "cannot be used"},
		{[]string{"run", "--spec", spec, "--out", file}, "cannot be used"},
		{[]string{"run", "--spec", spec, "--shard", "0/1000000", "--out", filepath.Join(dir, "b")}, "selects none of the spec's 2 cells"},
	} {
		code, stdout, stderr := run(tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and one line with %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
	for _, d := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(dir, d)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused run left %s behind: %v", d, err)
		}
	}
}

// A run whose every repetition failed is no success: run says how many
// failed and exits 1, and the report's Limitations say so.
func TestRunFailuresAreFailures(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "timeout.yaml")
	os.WriteFile(spec, []byte("name: timeout\ncount: 2\ntimeout: 1ns\nworkload:\n  - {name: mix, items: 300}\nthreshold: [2KiB]\n"), 0o644)
	out := filepath.Join(dir, "out")
	code, stdout, stderr := run("run", "--spec", spec, "--out", out, "-q")
	if code != 1 || !strings.Contains(stdout, "4 failed") || !strings.Contains(stderr, "4 of 4 recorded repetitions failed") {
		t.Fatalf("run with every repetition timed out: exit %d\nstdout %q\nstderr %q; want exit 1 and 4 failed", code, stdout, stderr)
	}
	rep := filepath.Join(dir, "rep")
	if code, _, stderr := run("report", "--format", "md", "--out", rep, out); code != 0 {
		t.Fatalf("report of the failed run: exit %d: %s", code, stderr)
	}
	md, _ := os.ReadFile(filepath.Join(rep, "report.md"))
	lim := string(md[bytes.Index(md, []byte("## Limitations")):])
	if strings.Contains(lim, "None found") || !strings.Contains(lim, "4 of 4 repetitions failed, in 2 cells (4 timeout)") {
		t.Fatalf("the report's Limitations hide the failures:\n%s", lim)
	}
}

// Every fault-free cell stopped by an I/O error (TMPDIR, where the spill
// directories go, on a full tmpfs) is a failure, not a clean typed error.
func TestRunIOErrorWithoutFaultFails(t *testing.T) {
	tmp := mountTmpfs(t, "64k")
	bin := sharedBinary(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "spills.yaml")
	os.WriteFile(spec, []byte("name: spills\ncount: 1\nbenchtime: 0s\nworkload:\n  - {name: hol, items: 1500, scale: 0.2}\nthreshold: [2KiB]\n"), 0o644)
	out := filepath.Join(dir, "out")
	cmd := exec.Command(bin, "run", "--spec", spec, "--out", out, "-q", "--profiles", "none")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(b), "1 of 2 recorded repetitions failed") {
		t.Fatalf("a fault-free cell whose spills hit a full TMPDIR: %v\n%s\nwant exit 1 and its failure counted", err, b)
	}
	if !strings.Contains(string(b), "Engine/") || !strings.Contains(string(b), "error") {
		t.Fatalf("the summary does not name the failed cell:\n%s", b)
	}
}

// mountTmpfs mounts a tmpfs of size (such as 64k) on a new temp dir and
// unmounts it when the test ends; without the privilege it skips.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "spillbench-test-tmpfs-")
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		os.Remove(dir)
		if os.Getenv("CI") != "" {
			t.Fatalf("CI runs as root: mount tmpfs: %v", err)
		}
		t.Skip("cannot mount a tmpfs here: ", err)
	}
	t.Cleanup(func() {
		for i := 0; ; i++ {
			err := syscall.Unmount(dir, 0)
			if err == nil || i == 50 {
				if err != nil {
					t.Errorf("unmount %s: %v", dir, err)
					syscall.Unmount(dir, syscall.MNT_DETACH)
				}
				break
			}
			time.Sleep(20 * time.Millisecond) // a process of the test may still be leaving it
		}
		os.Remove(dir)
	})
	return dir
}

// history add refuses a result directory without benchmarks (every
// repetition failed): history show could then track nothing, for good.
// An entry like it already in a store is left out with a warning.
func TestHistoryWithoutBenchmarks(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "hist")
	emptyRun := filepath.Join(dir, "failed")
	os.MkdirAll(emptyRun, 0o755)
	env, _ := os.ReadFile("../../testdata/quick/env.json")
	os.WriteFile(filepath.Join(emptyRun, "env.json"), env, 0o644)
	os.WriteFile(filepath.Join(emptyRun, "results.txt"), []byte("goos: linux\n"), 0o644)
	os.WriteFile(filepath.Join(emptyRun, "outcomes.jsonl"), nil, 0o644)
	code, _, stderr := run("history", "add", "--store", store, "--commit", "bad", emptyRun)
	if code != 2 || !strings.Contains(stderr, "holds no benchmark results") || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("history add of a run without benchmarks: exit %d, %q; want exit 2 and one line", code, stderr)
	}
	if ents, _ := os.ReadDir(store); len(ents) != 0 {
		t.Fatalf("the refused entry is in the store: %v", ents)
	}
	for i, f := range []string{"crc32-a.txt", "crc32-b.txt"} {
		if code, _, e := run("history", "add", "--store", store, "--commit", fmt.Sprint("c", i), filepath.Join("../../testdata/gobench", f)); code != 0 {
			t.Fatalf("history add: exit %d: %s", code, e)
		}
	}
	// An entry an older spillbench accepted.
	old := filepath.Join(store, "20260101T000000-oldempty")
	os.MkdirAll(old, 0o755)
	os.WriteFile(filepath.Join(old, "env.json"), []byte(`{"plain": true, "commit": "oldempty"}`), 0o644)
	os.WriteFile(filepath.Join(old, "results.txt"), nil, 0o644)
	os.WriteFile(filepath.Join(old, "outcomes.jsonl"), nil, 0o644)
	os.WriteFile(filepath.Join(old, "commit"), []byte("oldempty\n"), 0o644)
	code, stdout, stderr := run("history", "show", "--store", store, "--metric", "sec/op", "--out", filepath.Join(dir, "trend.svg"))
	if code != 0 || !strings.Contains(stderr, "20260101T000000-oldempty holds no sec/op result and is left out") || !strings.Contains(stdout, "in 2 entries") {
		t.Fatalf("history show with an entry without benchmarks: exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
}
