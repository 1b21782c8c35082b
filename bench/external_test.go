package bench

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/injectors"
)

func TestExternalSpecErrorsNameTheLine(t *testing.T) {
	const head = "name: x\ntarget:\n  name: t\n"
	for _, tc := range []struct{ src, want string }{
		{head + "  command: sort -T {spill_dir} -S {thresh} {input}\ninput: [{name: a, generate: lines, size: 1KiB}]\n",
			"x.yaml:4: target command: unknown placeholder {thresh}"},
		{head + "  command: sort {input}\ninput: [{name: a, generate: lines, size: 1KiB}]\n",
			"x.yaml:4: target command never names {spill_dir}"},
		{head + "  command: sort -T {spill_dir}\n  clean-exit: [0]\ninput: [{name: a, generate: lines, size: 1KiB}]\n",
			"x.yaml:5: clean-exit 0"},
		{head + "  command: sort -T {spill_dir}\n  time-limit: soon\ninput: [{name: a, generate: lines, size: 1KiB}]\n",
			"x.yaml:5: time-limit \"soon\""},
		{head + "  command: sort -T {spill_dir}\n  verify: {command: \"cmp {output} {reference}\"}\ninput: [{name: a, generate: lines, size: 1KiB}]\n",
			"x.yaml:5: verify command: unknown placeholder {reference}"},
		{head + "  command: sort -T {spill_dir}\n",
			"x.yaml:1: target t has no input"},
		{head + "  command: sort -T {spill_dir}\ninput: [{name: a, generate: words, size: 1KiB}]\n",
			"x.yaml:5: input a: generate \"words\""},
		{head + "  command: sort -T {spill_dir}\ninput: [{name: a, file: f, command: \"cp x {input}\"}]\n",
			"x.yaml:5: input a: give exactly one of file, generate or command"},
		{head + "  command: sort -T {spill_dir}\ninput: [{name: a, generate: lines, size: 1KiB}]\ngranularity: [item]\n",
			"x.yaml:6: granularity sets the engine and does not apply to the external target t"},
		{"workload: [mix]\ninput: [{name: a, generate: lines, size: 1KiB}]\n",
			"x.yaml:2: input is for an external target"},
		{head + "  command: sort -T {spill_dir}\ninput: [{name: a, generate: lines, size: 1KiB}]\nfault:\n  - {injector: tmpfs, mode: enospc, workloads: [mix]}\n",
			"x.yaml:7: fault workloads: an external target has inputs"},
	} {
		_, err := ParseSpec("x.yaml", []byte(tc.src))
		var se *SpecError
		if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("spec:\n%s\ngot error %v\nwant one line starting %q", tc.src, err, tc.want)
		}
	}
}

func TestFillTemplateQuotesForTheShell(t *testing.T) {
	got := fillTemplate("sort -S {threshold}b -T {spill_dir} {{x}} {input}", map[string]string{
		"threshold": "65536", "spill_dir": "/tmp/a dir", "input": "it's"})
	if want := `sort -S 65536b -T '/tmp/a dir' {x} 'it'\''s'`; got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

// runExternal runs an external spec into a new result directory and
// returns its outcomes by cell.
func runExternal(t *testing.T, ctx context.Context, src string) (map[string][]Outcome, Summary) {
	t.Helper()
	spec, err := ParseSpec("ext.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	sum, err := Run(ctx, spec, Options{Out: out})
	if err != nil && ctx.Err() == nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "outcomes.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	byCell := map[string][]Outcome{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var o Outcome
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatal(err)
		}
		byCell[o.Keys["threshold"]+"/"+o.Keys["fault"]] = append(byCell[o.Keys["threshold"]+"/"+o.Keys["fault"]], o)
	}
	assertNothingLeft(t, byCell)
	return byCell, sum
}

// assertNothingLeft checks that no process of any run's group is left,
// no resource is still registered, and no work dir of this process
// (with the mounts and loop devices in it) remains.
func assertNothingLeft(t *testing.T, byCell map[string][]Outcome) {
	t.Helper()
	for cell, outs := range byCell {
		for _, o := range outs {
			if o.External == nil || o.External.PGID == 0 {
				continue
			}
			// This process is the group's subreaper: not even a zombie
			// of it is left.
			if err := unix.Kill(-o.External.PGID, 0); !errors.Is(err, unix.ESRCH) {
				t.Errorf("%s: process group %d is still there (kill: %v)", cell, o.External.PGID, err)
			}
		}
	}
	if held := injectors.Resources.Held(); len(held) > 0 {
		t.Errorf("still registered: %v", held)
	}
	if left := injectors.LeftBy("", os.Getpid()); len(left) > 0 {
		t.Errorf("left on the host: %v", left)
	}
}

// kernelOrSkip skips a test whose kernel mechanisms cannot run here.
func kernelOrSkip(t *testing.T, mechs ...string) {
	t.Helper()
	for _, m := range mechs {
		inj, _ := injectors.ByName(m)
		if err := inj.Probe(); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("CI runs as root with every mechanism: %s: %v", m, err)
			}
			t.Skip(err)
		}
	}
}

// TestExternalSortSmall is a small version of the built-in sort spec:
// GNU sort swept over two thresholds and faulted by a tmpfs cap and the
// FUSE filesystem, with a mock fault that cannot reach it.
func TestExternalSortSmall(t *testing.T) {
	kernelOrSkip(t, "tmpfs", "fuse")
	byCell, sum := runExternal(t, context.Background(), `
name: sort-small
count: 2
target:
  name: sort
  command: LC_ALL=C sort -S {threshold}b -T {spill_dir} -o {output} {input}
  clean-exit: [2]
  time-limit: 30s
input:
  - {name: lines-2MiB, generate: lines, size: 2MiB}
threshold: [128KiB, 4MiB]
fault:
  - none
  - {injector: tmpfs, mode: enospc, after: 256KiB, thresholds: [128KiB]}
  - {injector: fuse, mode: eio, nth: 3, persistent: true, thresholds: [128KiB]}
  - {injector: mock, mode: eio, nth: 3, thresholds: [128KiB]}
`)
	if len(sum.Failures) > 0 {
		t.Fatalf("failures: %v", sum.Failures)
	}
	for _, o := range byCell["128KiB/none"] {
		e := o.External
		if o.Status != StatusOK || e.Verdict != VerdictVerified || e.SpillWritten < 2<<20 || e.SpillPeak <= 0 || e.SpillFiles < 2 || o.CPUMS <= 0 || e.MaxRSS <= 0 || e.OthersPct < 0 || e.OthersPct > 100 {
			t.Errorf("sort at 128KiB without a fault: %s %+v", o.Status, e)
		}
	}
	for _, o := range byCell["4MiB/none"] {
		if e := o.External; o.Status != StatusOK || e.Verdict != VerdictVerified || e.SpillWritten != 0 {
			t.Errorf("sort at 4MiB, above its 2 MiB input, spilled: %s %+v", o.Status, e)
		}
	}
	for fault, errno := range map[string]string{"tmpfs:enospc": "ENOSPC", "fuse:eio": "EIO"} {
		for _, o := range byCell["128KiB/"+fault] {
			if o.Status != StatusError || o.ExitCode != 2 || o.Fault == nil || !o.Fault.Fired || o.Fault.Errno != errno || o.External.ReportedErrno != errno {
				t.Errorf("%s: %s exit %d fault %+v, %+v, want a clean error (exit 2) with %s", fault, o.Status, o.ExitCode, o.Fault, o.External, errno)
			}
		}
	}
	mock := byCell["128KiB/mock:eio"]
	if len(mock) != 2 || mock[0].Status != StatusNotApplicable || !strings.Contains(mock[0].Reason, "not applicable to an external process") {
		t.Errorf("mock against sort: %+v", mock)
	}
}

// TestStderrErrnoIsTheLastOneNamed: a warning on the way is not the
// error a run ended with.
func TestStderrErrnoIsTheLastOneNamed(t *testing.T) {
	lines := []string{
		"sort: warning: cannot remove: /mnt/sortAb: No such file or directory",
		"sort: write failed: /mnt/sortCd: No space left on device",
		"sort: done",
	}
	if errno, line := stderrErrno(lines); errno != "ENOSPC" || line != lines[1] {
		t.Errorf("stderrErrno = %s, %q; want ENOSPC from the write", errno, line)
	}
	if errno, line := stderrErrno([]string{"all fine"}); errno != "" || line != "" {
		t.Errorf("stderrErrno without an errno = %s, %q", errno, line)
	}
}

// TestExternalExitZeroWithBadOutputIsDataLost plants a target that
// exits 0 with its output cut short, or with no output at all, at the
// small threshold only: the reference run (at the largest) is whole.
func TestExternalExitZeroWithBadOutputIsDataLost(t *testing.T) {
	byCell, _ := runExternal(t, context.Background(), `
name: planted
count: 1
target:
  name: truncating
  command: "cp {input} {spill_dir}/run; if [ {threshold} -lt 4096 ]; then head -c 1000 {spill_dir}/run > {output}; elif [ {threshold} -lt 65536 ]; then :; else cat {spill_dir}/run > {output}; fi"
input:
  - {name: lines-64KiB, generate: lines, size: 64KiB}
threshold: [1KiB, 8KiB, 1MiB]
`)
	for cell, want := range map[string]string{"1KiB/none": VerdictCorrupt, "8KiB/none": VerdictMissing, "1MiB/none": VerdictVerified} {
		outs := byCell[cell]
		if len(outs) != 1 {
			t.Fatalf("%s: %d outcomes", cell, len(outs))
		}
		o := outs[0]
		wantStatus := StatusDataLost
		if want == VerdictVerified {
			wantStatus = StatusOK
		}
		if o.ExitCode != 0 || o.External.Verdict != want || o.Status != wantStatus {
			t.Errorf("%s: exit %d, verdict %s, status %s; want exit 0, %s, %s", cell, o.ExitCode, o.External.Verdict, o.Status, want, wantStatus)
		}
		if o.External.SpillWritten != 64<<10 {
			t.Errorf("%s: the target wrote %d bytes to its spill directory, want %d", cell, o.External.SpillWritten, 64<<10)
		}
	}
}

// TestExternalHangIsKilledAtItsTimeLimit runs a target that never ends,
// writing through the FUSE latency fault, and a child that sleeps in
// its group: both are killed at the time limit, the run is recorded as
// timed out, and the FUSE mount comes off after them.
func TestExternalHangIsKilledAtItsTimeLimit(t *testing.T) {
	kernelOrSkip(t, "fuse")
	start := time.Now()
	byCell, _ := runExternal(t, context.Background(), `
name: hang
count: 1
target:
  name: hang
  command: "sleep 1000 & while :; do echo x >> {spill_dir}/f; done"
  time-limit: 1500ms
  verify: {command: "true"}
input:
  - {name: none, command: ": > {input}"}
threshold: [1KiB]
fault:
  - {injector: fuse, mode: latency, latency: 20ms, persistent: true}
`)
	outs := byCell["1KiB/fuse:latency"]
	if len(outs) != 1 {
		t.Fatalf("outcomes: %v", byCell)
	}
	o := outs[0]
	if o.Status != StatusTimeout || o.WallMS < 1500 || o.WallMS > 5000 || o.External.SpillWritten == 0 {
		t.Errorf("hanging target: %s (%s), %.0f ms, %d bytes written; want timeout at about 1500 ms, having written", o.Status, o.Reason, o.WallMS, o.External.SpillWritten)
	}
	if o.Fault == nil || !o.Fault.Fired {
		t.Errorf("the latency fault did not fire: %+v", o.Fault)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the sweep took %v", d)
	}
}

// TestExternalInterruptKillsTheGroup cancels a sweep while its target
// runs: the run is recorded as interrupted, its group is gone.
func TestExternalInterruptKillsTheGroup(t *testing.T) {
	kernelOrSkip(t, "tmpfs")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Cancel once the target has started writing to its spill dir.
		for ctx.Err() == nil {
			if m, _ := filepath.Glob(filepath.Join(os.TempDir(), "spillbench-inj-tmpfs-*", "mnt", "started")); len(m) > 0 {
				for _, f := range m {
					if b, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(f)), ".spillbench-injector")); err == nil && strings.TrimSpace(string(b)) == itoa(int64(os.Getpid())) {
						cancel()
					}
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	byCell, sum := runExternal(t, ctx, `
name: interrupted
count: 1
target:
  name: sleeper
  command: "touch {spill_dir}/started; sleep 1000"
  time-limit: 60s
  verify: {command: "true"}
input:
  - {name: none, command: ": > {input}"}
threshold: [1KiB]
fault:
  - {injector: tmpfs, mode: enospc, after: 1MiB}
`)
	outs := byCell["1KiB/tmpfs:enospc"]
	if len(outs) != 1 || outs[0].Status != StatusInterrupted || outs[0].WallMS > 30000 {
		t.Fatalf("outcomes: %+v", outs)
	}
	if !sum.Env.Interrupted || sum.Env.Complete {
		t.Errorf("env: interrupted %v, complete %v", sum.Env.Interrupted, sum.Env.Complete)
	}
}

// TestExternalSetupErrorsNameTheLine: an input that cannot be made and a
// reference run that fails are one line each, at the spec's line.
func TestExternalSetupErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"target: {name: t, command: \"cat {input} > {output}; : {spill_dir}\"}\ninput:\n  - {name: a, file: /nonexistent/input}\n",
			"ext.yaml:3: input a: stat /nonexistent/input: no such file or directory"},
		{"target: {name: t, command: \"echo broken >&2; exit 3; : {spill_dir}\"}\ninput:\n  - {name: a, generate: lines, size: 1KiB}\n",
			`ext.yaml:1: the reference run of t on input a, without a fault at 64KiB, failed: exit 3, stderr "broken"`},
		{"target: {name: t, command: \": {spill_dir}\"}\ninput:\n  - {name: a, generate: lines, size: 1KiB}\n",
			"ext.yaml:1: the reference run of t on input a, without a fault at 64KiB, failed: it wrote no {output}"},
	} {
		spec, err := ParseSpec("ext.yaml", []byte(tc.src))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Run(context.Background(), spec, Options{Out: filepath.Join(t.TempDir(), "out")})
		var se *SpecError
		if !errors.As(err, &se) || err.Error() != tc.want {
			t.Errorf("got %v\nwant %s", err, tc.want)
		}
		if left := injectors.LeftBy("", os.Getpid()); len(left) > 0 {
			t.Errorf("left: %v", left)
		}
	}
}
