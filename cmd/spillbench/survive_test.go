package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSurviveInterrupt runs the built binary's survive as its own process
// and signals it for real, once the sweeps are under way: it must exit
// 130 for SIGINT and 143 for SIGTERM, leave no scratch directory in its
// TMPDIR and no result directory, so the same --out can be given again.
func TestSurviveInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs the sweeps")
	}
	dir, bin := buildBinary(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			tmp := t.TempDir()
			out := filepath.Join(dir, "out-"+fmt.Sprint(int(tc.sig)))
			cmd := exec.Command(bin, "survive", "--out", out)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait for the first progress line: 500 runs done.
			sc := bufio.NewScanner(stderr)
			var said []string
			for sc.Scan() {
				said = append(said, sc.Text())
				if strings.Contains(sc.Text(), "survival runs") {
					break
				}
			}
			start := time.Now()
			cmd.Process.Signal(tc.sig)
			rest := make(chan []string)
			go func() {
				var lines []string
				for sc.Scan() {
					lines = append(lines, sc.Text())
				}
				rest <- lines
			}()
			said = append(said, <-rest...)
			err = cmd.Wait()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != tc.code {
				t.Fatalf("exit: %v, want status %d; it said:\n%s", err, tc.code, strings.Join(said, "\n"))
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v to stop after %v", took, tc.sig)
			}
			if last, want := said[len(said)-1], fmt.Sprintf("spillbench: interrupted (%v)", tc.sig); last != want {
				t.Errorf("last line %q, want %q", last, want)
			}
			if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
				t.Errorf("left in TMPDIR: %s", ents[0].Name())
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("--out %s is still there after the interrupt (%v): the next survive would refuse it", out, err)
			}
		})
	}
}

// TestSurviveChecksDocFirst gives survive a --doc it cannot write (under
// a regular file, which root cannot write either): it must say so at
// once with status 2, before any sweep, and make no result directory.
func TestSurviveChecksDocFirst(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := spillbench(&stdout, &stderr, []string{"survive", "--out", out, "--doc", filepath.Join(file, "docs"), "-q"})
	if code != 2 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "--doc") {
		t.Fatalf("exit %d, stderr %q: want 2 and one line naming --doc", code, stderr.String())
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v: the sweeps ran before --doc was checked", took)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("result directory made although --doc was refused: %v", err)
	}
	// A result directory in use is bad input too.
	stderr.Reset()
	if code := spillbench(&stdout, &stderr, []string{"survive", "--out", dir, "-q"}); code != 2 || !strings.Contains(stderr.String(), "not empty") {
		t.Fatalf("survive into a used --out: exit %d, %q; want 2 saying it is not empty", code, stderr.String())
	}
	// A --doc that does not exist yet is fine, and the check leaves
	// nothing behind.
	fresh := filepath.Join(dir, "a", "b")
	if err := probeWritable(filepath.Join(fresh, "fault-survival")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Errorf("the check left %s behind", filepath.Join(dir, "a"))
	}
}
