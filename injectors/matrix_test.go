package injectors_test

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/injectors"
	"github.com/spillbench/spillbench/spill"
)

// matrixFault is the fault the matrix arms for each mechanism and mode.
func matrixFault(mech string, mode injectors.Mode) injectors.Fault {
	f := injectors.Fault{Mode: mode}
	switch mode {
	case injectors.ModeLatency:
		f.Latency, f.Persistent = time.Millisecond, true
	case injectors.ModeENOSPC, injectors.ModeInodes:
		if mech == "tmpfs" || mech == "fallocate" {
			f.AfterBytes = 256 << 10
			return f
		}
		f.Nth = 3
	case injectors.ModeENOENT:
		f.Nth = 3
		if mech == "fuse" {
			f.Nth = 1 // creates: the first, and the retry after re-creating the dir
		}
	case injectors.ModeUnmount, injectors.ModeUnlinkOpen, injectors.ModeReplace, injectors.ModeRmdirBurst, injectors.ModeRmdirBetween:
		if mech == "fuse" {
			f.Nth = 3
		}
	default:
		f.Nth = 3
	}
	if mech == "fuse" {
		// The kernel splits writes; a one-shot fault after the first chunk
		// is retried away (see Fuse), so the matrix makes them stick.
		f.Persistent = true
	}
	return f
}

// row is one line of the fault matrix.
type row struct {
	mech, mode      string
	fired           bool
	errno, typed    string
	exit            int
	lost, reported  int64
	outcome         string
	setupTeardownMS []float64
}

func classify(r faultRun, mode injectors.Mode) row {
	var out row
	sum := injectors.Summarize(r.obs)
	out.fired, out.errno = sum.Fired, sum.Errno
	// A kernel mechanism need not see its fault strike (a full tmpfs
	// just says ENOSPC): the engine's error is the evidence, but only an
	// errno the mode makes. Any other errno is a failure the fault did
	// not cause.
	var errno unix.Errno
	if errors.As(r.out.Err, &errno) {
		out.errno = unix.ErrnoName(errno)
		out.fired = out.fired || out.errno == modeErrno(mode)
	}
	out.exit, out.lost = r.out.ExitCode, r.out.Report.Lost+r.out.Report.Duplicated+r.out.Report.Corrupted
	var (
		ioe  *spill.IOError
		lost *spill.PriorSpillsLostError
		gone *spill.TempVanishedError
	)
	switch {
	case errors.As(r.out.Err, &lost):
		out.typed, out.reported = "PriorSpillsLost", int64(lost.Items)
	case errors.As(r.out.Err, &gone):
		out.typed = "TempVanished"
	case errors.As(r.out.Err, &ioe):
		out.typed = "IOError@" + string(ioe.Site)
	case r.out.Err != nil:
		out.typed = fmt.Sprintf("%T", r.out.Err)
	default:
		out.typed = "-"
	}
	switch {
	case out.lost > 0:
		out.outcome = "DATA LOST"
	case !out.fired:
		out.outcome = "did not fire"
	case out.reported > 0:
		out.outcome = "clean stop, spilled items reported lost"
	case r.out.Err != nil:
		out.outcome = "clean typed error"
	case r.out.Spill.DirRecreations > 0:
		out.outcome = "recovered (dir re-created)"
	default:
		out.outcome = "unaffected"
	}
	return out
}

// TestFaultMatrix runs the engine under every mode of every mechanism and
// checks the spill failure contract held: nothing lost, duplicated or
// corrupted, no panic, and a failed run ends on a typed error with exit 11.
// SPILLBENCH_MATRIX_REPS=N repeats each cell and prints the table with
// median setup+teardown times.
// modeErrno is the errno a mode injects: "ENOSPC" for enospc and inodes,
// "EIO" for eio; "" for modes that inject no errno of their own.
func modeErrno(m injectors.Mode) string {
	switch m {
	case injectors.ModeInodes:
		return "ENOSPC"
	case injectors.ModeENOSPC, injectors.ModeEDQUOT, injectors.ModeEIO, injectors.ModeEFBIG, injectors.ModeENOENT:
		return strings.ToUpper(string(m))
	}
	return ""
}

func TestFaultMatrix(t *testing.T) {
	reps := 1
	if s := os.Getenv("SPILLBENCH_MATRIX_REPS"); s != "" {
		reps, _ = strconv.Atoi(s)
	}
	var rows []row
	for _, inj := range injectors.All() {
		for _, mode := range inj.Modes() {
			name := inj.Name() + "/" + string(mode)
			if err := injectors.ProbeMode(inj, mode); err != nil {
				if onCI && inj.Name() != "failpoint" {
					t.Errorf("%s must run on CI: %v", name, err)
				}
				rows = append(rows, row{mech: inj.Name(), mode: string(mode), outcome: "unavailable: " + err.Error()})
				// Shown as skipped, not passed: nothing ran.
				t.Run(name, func(t *testing.T) { t.Skip(err) })
				continue
			}
			t.Run(name, func(t *testing.T) {
				var first row
				for i := range reps {
					fresh, _ := injectors.ByName(inj.Name())
					r := runUnder(t, fresh, matrixFault(inj.Name(), mode), spill.Batch)
					got := classify(r, mode)
					if r.out.Panics != 0 || got.lost != 0 {
						t.Fatalf("%s: %d panics, %d items lost/duplicated/corrupted: %v", name, r.out.Panics, got.lost, r.out.Report)
					}
					if r.out.Err != nil && r.out.ExitCode != 11 {
						t.Fatalf("%s: error %v with exit %d, want 11", name, r.out.Err, r.out.ExitCode)
					}
					if got.outcome == "did not fire" {
						t.Fatalf("%s: the fault never fired; observations %+v", name, r.obs)
					}
					if got.reported > 0 && r.out.Report.Undelivered < got.reported {
						t.Fatalf("%s: %d items reported lost, only %d undelivered", name, got.reported, r.out.Report.Undelivered)
					}
					if i == 0 {
						first = got
					}
					first.setupTeardownMS = append(first.setupTeardownMS, float64((r.setup+r.teardown).Microseconds())/1000)
				}
				first.mech, first.mode = inj.Name(), string(mode)
				rows = append(rows, first)
			})
		}
	}
	if reps > 1 || testing.Verbose() {
		var b strings.Builder
		b.WriteString("\n| mechanism | mode | fired | errno | typed error | exit | items lost | spilled items reported lost | outcome | setup+teardown ms (median) |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range rows {
			fired := "no"
			if r.fired {
				fired = "yes"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d | %d | %d | %s | %s |\n", r.mech, r.mode, fired, orDash(r.errno), r.typed, r.exit, r.lost, r.reported, r.outcome, median(r.setupTeardownMS))
		}
		t.Log(b.String())
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func median(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return strconv.FormatFloat(s[len(s)/2], 'f', 1, 64)
}
