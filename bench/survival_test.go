package bench

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/engine"
	"github.com/spillbench/spillbench/injectors"
	"github.com/spillbench/spillbench/reports"
	"github.com/spillbench/spillbench/spill"
)

// TestSurvivalSweepsRun runs the survival sweeps sampled (every 97th
// operation, byte, bit and length) and checks their headline: no panic,
// no silent loss, no unreported fault; the document generator reads the
// result. make docs runs them whole.
func TestSurvivalSweepsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("the sweeps take seconds even sampled")
	}
	dir := filepath.Join(t.TempDir(), "survive")
	n, err := Survive(context.Background(), SurvivalOptions{Out: dir, Stride: 97})
	if err != nil {
		t.Fatal(err)
	}
	runs, env, err := reports.LoadSurvival(dir)
	if err != nil || len(runs) != n || n < 100 || !env.Complete {
		t.Fatalf("%d runs read of %d written, env %+v: %v", len(runs), n, env, err)
	}
	sweeps := map[string]int{}
	for _, r := range runs {
		sweeps[r.Sweep]++
		if r.Panicked || r.Silent || r.Unaccounted != 0 || r.Reached == "none" {
			t.Errorf("run %+v breaks the contract", r)
		}
		if r.Sweep == "operation" && r.At > r.Ops && (r.Injected != 0 || !r.Recovered) {
			t.Errorf("run K+1 of %s/%s/%s was not clean: %+v", r.Gran, r.Backend, r.Fault, r)
		}
	}
	for _, s := range []string{"operation", "byte", "corruption"} {
		if sweeps[s] == 0 {
			t.Errorf("no %s sweep runs", s)
		}
	}
	doc := string(reports.SurvivalDoc(runs, env, "spillbench survive --stride 97"))
	if !strings.Contains(doc, "0 panics, 0 unreported faults, and 0 runs with wrong data") || !strings.Contains(doc, "## Every bit and every length") {
		t.Fatalf("document:\n%s", doc[:min(len(doc), 600)])
	}
	os.RemoveAll(dir)
}

// A ledger is compared with every error of its run, not only with whether
// there was one: wrong data after an error that said nothing was lost is
// unaccounted, and a loss an error reports is checked against the items
// really lost. The expected counts are worked out by hand from the
// deliveries each case makes.
func TestSurvivalLedgerChecksEveryError(t *testing.T) {
	psl := func(items int) error {
		return &spill.PriorSpillsLostError{Dir: "/d", Records: 1, Items: items, Err: fs.ErrNotExist}
	}
	ioe := &spill.IOError{Site: spill.SiteBatchWrite, Offset: 0, Err: unix.ENOSPC, Items: 3}
	for _, tc := range []struct {
		name      string
		delivered []int // times each of 4 items was delivered
		corrupt   int
		errs      []error
		want      SurvivalRun // the ledger fields checked
	}{
		{"duplicate after an error that kept its items", []int{1, 2, 1, 1}, 0, []error{ioe},
			SurvivalRun{Delivered: 4, Duplicate: 1, Errors: 1, Unaccounted: 1, Silent: true, ExitCode: engine.ExitFileIO}},
		{"loss after an error that kept its items", []int{1, 0, 1, 1}, 0, []error{ioe},
			SurvivalRun{Delivered: 3, Lost: 1, Errors: 1, Unaccounted: 1, Silent: true, ExitCode: engine.ExitFileIO}},
		{"loss reported by a later error", []int{1, 0, 0, 1}, 0, []error{ioe, psl(2)},
			SurvivalRun{Delivered: 2, Lost: 2, Errors: 2, ReportedLost: 2, LossReported: true, ExitCode: engine.ExitFileIO}},
		{"more lost than reported", []int{0, 0, 0, 1}, 0, []error{psl(2)},
			SurvivalRun{Delivered: 1, Lost: 3, Errors: 1, ReportedLost: 2, LossReported: true, Unaccounted: 1, Silent: true, ExitCode: engine.ExitFileIO}},
		{"reported lost, delivered after all", []int{1, 1, 1, 1}, 0, []error{psl(2)},
			SurvivalRun{Delivered: 4, Errors: 1, ReportedLost: 2, LossReported: true, OverReported: 2, Recovered: true, ExitCode: engine.ExitFileIO}},
		{"a corrupt record accounts for its loss", []int{1, 0, 0, 0}, 0, []error{&spill.CorruptRecordError{Offset: 9, Reason: "checksum"}},
			SurvivalRun{Delivered: 1, Lost: 3, Errors: 1, LossReported: true, ExitCode: engine.ExitFileIO}},
		{"a corrupt delivery is never accounted for", []int{1, 1, 1, 1}, 1, []error{&spill.CorruptRecordError{Offset: 9, Reason: "checksum"}},
			SurvivalRun{Delivered: 4, Corrupt: 1, Errors: 1, LossReported: true, Unaccounted: 1, Silent: true, ExitCode: engine.ExitFileIO}},
		{"loss without any error exits 23", []int{1, 0, 1, 1}, 0, nil,
			SurvivalRun{Delivered: 3, Lost: 1, Unaccounted: 1, Silent: true, ExitCode: engine.ExitPartial}},
		{"clean", []int{1, 1, 1, 1}, 0, nil,
			SurvivalRun{Delivered: 4, Recovered: true, ExitCode: engine.ExitOK}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &driver{items: make([][]byte, len(tc.delivered)), delivered: tc.delivered, corrupt: tc.corrupt}
			for _, err := range tc.errs {
				d.fail(err)
			}
			var r SurvivalRun
			d.tally(&r)
			r.Error, r.ErrorType = "", ""
			if r != tc.want {
				t.Errorf("ledger\n got %+v\nwant %+v", r, tc.want)
			}
		})
	}
}

// The byte sweep cuts the first record write at every length from 0 to
// the record's own length, both included: the fault-free trace says how
// long that write is.
func TestByteSweepCutsEveryLengthOfTheRecord(t *testing.T) {
	ops, err := trace(t.TempDir(), spill.PerItem, BackendDir)
	if err != nil {
		t.Fatal(err)
	}
	size := 0
	for _, o := range ops {
		if o.Site == spill.SiteRecordWrite || o.Site == spill.SiteBatchWrite {
			size = o.Size
			break
		}
	}
	var cuts []int
	err = byteSweep(t.TempDir(), spill.PerItem, BackendDir, 1, func(r SurvivalRun) error {
		cuts = append(cuts, r.At)
		if r.Unaccounted != 0 || r.Reached != "caller" {
			t.Errorf("cut at %d: %+v", r.At, r)
		}
		return nil
	})
	if err != nil || size == 0 {
		t.Fatalf("record of %d bytes: %v", size, err)
	}
	if len(cuts) != size+1 || cuts[0] != 0 || cuts[len(cuts)-1] != size {
		t.Fatalf("cuts %d..%d (%d of them), want every length 0..%d", cuts[0], cuts[len(cuts)-1], len(cuts), size)
	}
}

// A stopping run's ledger goes on after its first error with the fault
// lifted: an item the buffer still holds is delivered, not counted lost,
// and the buffer a failed create kept from being made is made again.
func TestSurvivalLedgerLiftsTheFault(t *testing.T) {
	for _, k := range []int{1, 40} { // dir.create; a write once records are on disk
		m := injectors.NewMock()
		if err := m.Arm(injectors.Fault{Mode: injectors.ModeEIO, Rule: "(randomly 1 0)", Nth: k, Persistent: true}); err != nil {
			t.Fatal(err)
		}
		p, done, err := mockPolicy(t.TempDir(), spill.Batch, BackendDir, m)
		if err != nil {
			t.Fatal(err)
		}
		d, panicked := drive(shapeFor(BackendDir), p, false, nil, func() { lift(m) })
		done()
		var r SurvivalRun
		d.tally(&r)
		if panicked || d.firstErr == nil || r.Lost != 0 || r.Delivered != 160 || !r.Recovered {
			t.Errorf("fault at call %d: error %v, ledger %+v: want the error, then all 160 items delivered once the fault was lifted", k, d.firstErr, r)
		}
	}
}

// A survival sweep holds its result directory's lock as a sweep does: a
// second writer is refused with the holder's PID and writes nothing, and
// a refused start leaves the directory as it was.
func TestSurviveHoldsTheResultDirLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "survive")
	held, err := lockResultDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer held.release()
	_, err = Survive(context.Background(), SurvivalOptions{Out: dir, Stride: 1 << 20})
	var oe *OutError
	if !errors.As(err, &oe) || oe.PID != os.Getpid() {
		t.Fatalf("Survive into a locked directory: %v; want an *OutError naming PID %d", err, os.Getpid())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != LockFile {
		t.Fatalf("the refused survive left %v", ents)
	}
}
