package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as a side of an interleaved run: with
// lockstepSideEnv set it announces the repetitions listed in it ("x 0";
// "x 0*3" for a repetition of three runs, announcing the count, as a
// sweep does; "x 0+3" for three runs without announcing it, as an older
// binary does), and each further run of them, and appends "<side>
// <repetition>" (with "#<run>" after the first run) to lockstepLogEnv's
// file while it holds its turn.
const (
	lockstepSideEnv = "SPILLBENCH_TEST_LOCKSTEP_SIDE" // name:cell rep,cell rep,...
	lockstepLogEnv  = "SPILLBENCH_TEST_LOCKSTEP_LOG"  // the shared log
	lockstepHangEnv = "SPILLBENCH_TEST_LOCKSTEP_HANG" // set: hang in the first turn
)

func init() {
	spec := os.Getenv(lockstepSideEnv)
	if spec == "" {
		return
	}
	os.Exit(lockstepSide(spec))
}

func lockstepSide(spec string) int {
	name, list, _ := strings.Cut(spec, ":")
	turns, ready, err := LockstepFiles()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	step := LockstepStep(turns, ready)
	log, err := os.OpenFile(os.Getenv(lockstepLogEnv), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer log.Close()
	for rep := range strings.SplitSeq(list, ",") {
		rep, times, announce := strings.Cut(rep, "*")
		if !announce {
			rep, times, _ = strings.Cut(rep, "+")
		}
		cell, n, _ := strings.Cut(rep, " ")
		var i int
		fmt.Sscan(n, &i)
		runs := 1
		if times != "" {
			fmt.Sscan(times, &runs)
		}
		for run := 0; run < runs; run++ {
			named := 0
			if announce && run == 0 {
				named = runs
			}
			agreed, err := step(cell, i, run, named)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			if agreed > 0 {
				runs = agreed
			}
			if os.Getenv(lockstepHangEnv) != "" {
				time.Sleep(time.Hour) // until the driver's SIGINT ends it
			}
			at := rep
			if run > 0 {
				at = fmt.Sprintf("%s#%d", rep, run)
			}
			// A turn takes a moment, so a side that ran out of turn
			// would interleave its lines with the other's.
			fmt.Fprintf(log, "%s %s start\n", name, at)
			time.Sleep(2 * time.Millisecond)
			fmt.Fprintf(log, "%s %s end\n", name, at)
		}
	}
	return 0
}

// runSides runs a side per plan ("name:cell rep,cell rep,...") and
// returns Interleave's error and the shared log.
func runSides(t *testing.T, ctx context.Context, env []string, plans ...string) ([]string, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var sides []Side
	for _, p := range plans {
		name, _, _ := strings.Cut(p, ":")
		sides = append(sides, Side{Name: name, Path: exe, Args: []string{"-test.run=^$"}, Stderr: os.Stderr,
			Env: append([]string{lockstepSideEnv + "=" + p, lockstepLogEnv + "=" + logPath}, env...)})
	}
	err = Interleave(ctx, sides, Progress{})
	out, rerr := os.ReadFile(logPath)
	if rerr != nil {
		t.Fatal(rerr)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n"), err
}

func TestInterleaveTakesTurnsAlternatingWhoGoesFirst(t *testing.T) {
	// Two cells a round: alternating by step, y would always see b
	// first; by repetition, every cell sees each side first in turn.
	plan := "x -1,y -1,x 0,y 0,x 1,y 1,x 2,y 2"
	log, err := runSides(t, context.Background(), nil, "a:"+plan, "b:"+plan)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, rep := range strings.Split(plan, ",") {
		order := []string{"a", "b"}
		if strings.HasSuffix(rep, "1") { // -1 and 1: odd
			order = []string{"b", "a"}
		}
		for _, side := range order {
			want = append(want, side+" "+rep+" start", side+" "+rep+" end")
		}
	}
	if strings.Join(log, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the sides ran\n%s\nwant\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
	}
}

func TestInterleaveTakesTurnsRunByRun(t *testing.T) {
	// Within a repetition the sides alternate run by run, the order
	// reversing each round. Sides that do not announce their counts (an
	// older binary) keep them: the side with more runs runs its last alone.
	log, err := runSides(t, context.Background(), nil, "a:x 0+3,x 1+2", "b:x 0+4,x 1+2")
	if err != nil {
		t.Fatal(err)
	}
	got := turnsTaken(log)
	want := []string{
		"a x 0", "b x 0", // rep 0: a first
		"b x 0#1", "a x 0#1",
		"a x 0#2", "b x 0#2",
		"b x 0#3",        // a has no fourth run
		"b x 1", "a x 1", // rep 1: b first
		"a x 1#1", "b x 1#1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the sides ran\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := 0; i < len(log); i += 2 {
		if strings.TrimSuffix(log[i], " start") != strings.TrimSuffix(log[i+1], " end") {
			t.Fatalf("runs overlapped: %q then %q", log[i], log[i+1])
		}
	}
}

// turnsTaken is the log's "<side> <repetition>" of every run started.
func turnsTaken(log []string) []string {
	var got []string
	for _, l := range log {
		if side, rest, _ := strings.Cut(l, " "); strings.HasSuffix(rest, " start") {
			got = append(got, side+" "+strings.TrimSuffix(rest, " start"))
		}
	}
	return got
}

func TestInterleaveAgreesOnTheRuns(t *testing.T) {
	// Sides that announce their counts all make the largest, so no side
	// runs alone; with one side silent, each keeps its own.
	for _, tc := range []struct {
		name string
		a, b string
		want []string
	}{
		{"both announce", "a:x 0*3,x 1*2", "b:x 0*4,x 1*2", []string{
			"a x 0", "b x 0",
			"b x 0#1", "a x 0#1",
			"a x 0#2", "b x 0#2",
			"b x 0#3", "a x 0#3", // a makes b's fourth run too
			"b x 1", "a x 1",
			"a x 1#1", "b x 1#1",
		}},
		{"one announces", "a:x 0*3", "b:x 0+2", []string{
			"a x 0", "b x 0",
			"b x 0#1", "a x 0#1",
			"a x 0#2",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, err := runSides(t, context.Background(), nil, tc.a, tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if got := turnsTaken(log); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("the sides ran\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestInterleaveStopsSidesThatDiverge(t *testing.T) {
	for name, plans := range map[string][]string{
		"different repetition": {"a:x 0,y 0", "b:x 0,z 0"},
		"one ends first":       {"a:x 0,y 0", "b:x 0"},
		"a run of another rep": {"a:x 0*2,y 0", "b:x 0,x 1*2"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := runSides(t, context.Background(), nil, plans...)
			if err == nil || !strings.Contains(err.Error(), "diverged") && !strings.Contains(err.Error(), "stopped before") {
				t.Fatalf("err = %v, want the sides diverged", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("a multi-line error: %q", err)
			}
		})
	}
}

func TestInterleaveCancelEndsEverySide(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := runSides(t, ctx, []string{lockstepHangEnv + "=1"}, "a:x 0,x 1", "b:x 0,x 1")
	if err == nil {
		t.Fatal("Interleave returned nil after its context was cancelled")
	}
	// The sides hang for an hour unless the interrupt reached them; the
	// call returned, so Wait reaped both.
	if d := time.Since(start); d > time.Minute {
		t.Fatalf("took %v: the interrupt did not end the sides", d)
	}
}

func TestWaitingForTurnsIsNotOverhead(t *testing.T) {
	// A side of an interleaved run waits about as long as it runs; that
	// wait is recorded on its own and the overhead leaves it out.
	spec := parseTiny(t)
	steps := 0
	sum, err := Run(context.Background(), spec, Options{Out: filepath.Join(t.TempDir(), "out"), Count: 1, Profiles: "none",
		Step: func(string, int, int, int) (int, error) {
			steps++
			time.Sleep(100 * time.Millisecond)
			return 0, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	waited := sum.Env.OverheadSeconds.TurnWait
	if want := 0.1 * float64(steps); waited < want {
		t.Fatalf("recorded %.2fs of waiting for %d turns of 0.1s", waited, steps)
	}
	if own := sum.Env.TotalSeconds - waited; sum.Env.Overhead > 1-sum.Env.MeasuredSeconds/own+1e-9 || sum.Env.Overhead > 0.9 {
		t.Fatalf("overhead %.2f with %.2fs measured of %.2fs, %.2fs of them waiting", sum.Env.Overhead, sum.Env.MeasuredSeconds, sum.Env.TotalSeconds, waited)
	}
}
