package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/spill"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// small returns a workload sized for tests.
func small(t testing.TB, name string) Workload {
	t.Helper()
	spec := map[string]WorkloadSpec{
		"mix":  {Name: "mix", Items: 3000},
		"tree": {Name: "tree", Items: 200, Scale: 0.1},
		"hol":  {Name: "hol", Items: 1500, Scale: 0.2},
		"bulk": {Name: "bulk", Items: 100, Scale: 0.05},
	}[name]
	spec.Seed = 42
	wl, err := NewWorkload(spec)
	if err != nil {
		t.Fatal(err)
	}
	return wl
}

func run(t *testing.T, cfg Config) Outcome {
	t.Helper()
	out, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return out
}

// tight is a threshold that makes the test workloads spill; mix's results
// are small and its reorder window short, so it gets a tighter one.
const tight = 16 << 10

func tightFor(name string) int64 {
	if name == "mix" {
		return 512
	}
	return tight
}

func TestEveryWorkloadDeliversEverythingInOrder(t *testing.T) {
	type mode struct {
		name   string
		policy func(t *testing.T, threshold int64, g spill.Granularity) *spill.Policy
	}
	modes := []mode{
		{"off", func(*testing.T, int64, spill.Granularity) *spill.Policy { return nil }},
		{"tight", func(t *testing.T, threshold int64, g spill.Granularity) *spill.Policy {
			return &spill.Policy{Threshold: threshold, Granularity: g, Dir: t.TempDir()}
		}},
		{"tight-zstd", func(t *testing.T, threshold int64, g spill.Granularity) *spill.Policy {
			return &spill.Policy{Threshold: threshold, Granularity: g, Compression: spill.Compression{Method: spill.Zstd, Level: 3}, Reclaim: spill.RespillAfterRead}
		}},
		{"in-memory-only", func(t *testing.T, _ int64, g spill.Granularity) *spill.Policy {
			return &spill.Policy{Threshold: 1 << 30, Granularity: g, InMemoryOnly: true}
		}},
	}
	for _, name := range Workloads {
		for _, m := range modes {
			for _, g := range []spill.Granularity{spill.Batch, spill.PerItem} {
				if m.name == "off" && g == spill.PerItem {
					continue // granularity means nothing without spilling
				}
				t.Run(fmt.Sprintf("%s/%s/%s", name, m.name, g), func(t *testing.T) {
					wl := small(t, name)
					out := run(t, Config{Workload: wl, Workers: 3, RingCapacity: 256, Spill: m.policy(t, tightFor(name), g)})
					if out.Err != nil || out.ExitCode != ExitOK {
						t.Fatalf("run failed: %v (exit %d), %v", out.Err, out.ExitCode, out.Report)
					}
					r := out.Report
					if !r.Clean() || r.Sent != int64(wl.Len()) || r.Delivered != r.Sent || r.Undelivered != 0 {
						t.Fatalf("report %v, want all %d items delivered cleanly", r, wl.Len())
					}
					// Only hol's stall forces a spill whatever the scheduling;
					// elsewhere it depends on how the workers race.
					tightMode := m.name == "tight" || m.name == "tight-zstd"
					if spilled := out.Spill.SpillEvents > 0; (name == "hol" && tightMode && !spilled) || (!tightMode && spilled) {
						t.Fatalf("%d spill events in mode %s", out.Spill.SpillEvents, m.name)
					}
					if out.Bytes <= 0 || out.ItemsPerSec() <= 0 || out.PeakHeap == 0 || out.PeakRSS <= 0 {
						t.Fatalf("measurements missing: %+v", out)
					}
				})
			}
		}
	}
}

func TestHOLSpillingBoundsMemory(t *testing.T) {
	wl := small(t, "hol")
	// The budget: threshold + hot zone (16 items) + one item. The fast
	// results carry at most 8 KiB; the largest item is the stalled one.
	slow, err := process(t.Context(), wl.Item(2))
	if err != nil {
		t.Fatal(err)
	}
	fast := int64(resultOverhead + 8<<10)
	bound := tight + 16*fast + max(fast, int64(ResultCodec{}.Size(slow)))

	off := run(t, Config{Workload: wl, Workers: 2})
	for _, g := range []spill.Granularity{spill.Batch, spill.PerItem} {
		for _, rc := range []spill.Reclaim{spill.Keep, spill.RespillAfterRead} {
			out := run(t, Config{Workload: wl, Workers: 2, Spill: &spill.Policy{Threshold: tight, Granularity: g, Reclaim: rc}})
			if out.Err != nil || !out.Report.Clean() {
				t.Fatalf("%s/%s: %v %v", g, rc, out.Err, out.Report)
			}
			if out.PeakBuffered > bound {
				t.Fatalf("%s/%s: peak buffered %d bytes, bound %d", g, rc, out.PeakBuffered, bound)
			}
		}
	}
	if off.PeakBuffered < 2*bound {
		t.Fatalf("without spilling the buffer peaked at %d bytes, under twice the spilling bound %d: the stall did not pile up", off.PeakBuffered, bound)
	}
}

// errFS fails every call at one site, from its nth call on, with err.
type errFS struct {
	spill.FS
	site spill.Site
	nth  int
	err  error

	mu    sync.Mutex
	calls int
}

func (f *errFS) fire(site spill.Site) error {
	if site != f.site {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls >= f.nth {
		return f.err
	}
	return nil
}

func (f *errFS) CreateTemp(site spill.Site, dir string) (spill.File, string, error) {
	if err := f.fire(site); err != nil {
		return nil, "", err
	}
	file, name, err := f.FS.CreateTemp(site, dir)
	if err != nil {
		return nil, "", err
	}
	return errFile{file, f}, name, nil
}

type errFile struct {
	spill.File
	fs *errFS
}

func (f errFile) WriteAt(site spill.Site, p []byte, off int64) (int, error) {
	if err := f.fs.fire(site); err != nil {
		return 0, err
	}
	return f.File.WriteAt(site, p, off)
}

func (f errFile) Close(site spill.Site) error {
	err := f.File.Close(site)
	if ferr := f.fs.fire(site); ferr != nil {
		return ferr
	}
	return err
}

// A run that delivered everything but failed to close its spill file
// reports the close's error: on some filesystems that is where a failed
// write first shows.
func TestAFailedCloseIsTheRunsError(t *testing.T) {
	efs := &errFS{FS: spill.OS, site: spill.SiteBackendClose, nth: 1, err: unix.EIO}
	out := run(t, Config{Workload: small(t, "hol"), Workers: 2,
		Spill: &spill.Policy{Threshold: tight, Dir: t.TempDir(), FS: efs}})
	var ioe *spill.IOError
	if !errors.As(out.Err, &ioe) || ioe.Site != spill.SiteBackendClose || !errors.Is(out.Err, unix.EIO) {
		t.Fatalf("error %v, want EIO at %s", out.Err, spill.SiteBackendClose)
	}
	if out.ExitCode != ExitFileIO || !out.Report.Clean() || out.Report.Delivered != out.Report.Sent {
		t.Fatalf("exit %d, report %v: every item delivered, then the close failed", out.ExitCode, out.Report)
	}
}

func TestFaultsStopTheRunCleanly(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fs       *errFS
		gran     spill.Granularity
		wantExit int
		check    func(t *testing.T, err error)
	}{
		{"ENOSPC on a batch write", &errFS{site: spill.SiteBatchWrite, nth: 3, err: unix.ENOSPC}, spill.Batch, ExitFileIO,
			func(t *testing.T, err error) {
				var ioe *spill.IOError
				if !errors.As(err, &ioe) || !spill.IsOutOfSpace(err) || ioe.Site != spill.SiteBatchWrite {
					t.Fatalf("error %v, want out of space at batch.write", err)
				}
			}},
		{"EIO on a record write", &errFS{site: spill.SiteRecordWrite, nth: 10, err: unix.EIO}, spill.PerItem, ExitFileIO,
			func(t *testing.T, err error) {
				if !errors.Is(err, unix.EIO) {
					t.Fatalf("error %v, want EIO", err)
				}
			}},
		{"directory gone after commits", &errFS{site: spill.SiteBatchWrite, nth: 3, err: fs.ErrNotExist}, spill.Batch, ExitFileIO,
			func(t *testing.T, err error) {
				var lost *spill.PriorSpillsLostError
				if !errors.As(err, &lost) || lost.Records == 0 {
					t.Fatalf("error %v, want PriorSpillsLost with records", err)
				}
			}},
		{"directory gone for good", &errFS{site: spill.SiteBackendCreate, nth: 1, err: fs.ErrNotExist}, spill.Batch, ExitFileIO,
			func(t *testing.T, err error) {
				var gone *spill.TempVanishedError
				if !errors.As(err, &gone) {
					t.Fatalf("error %v, want TempVanished", err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fs.FS = spill.OS
			wl := small(t, "hol")
			out := run(t, Config{Workload: wl, Workers: 2,
				Spill: &spill.Policy{Threshold: tight, Granularity: tc.gran, Dir: t.TempDir(), FS: tc.fs}})
			tc.check(t, out.Err)
			if out.ExitCode != tc.wantExit {
				t.Fatalf("exit %d, want %d", out.ExitCode, tc.wantExit)
			}
			r := out.Report
			if !r.Clean() {
				t.Fatalf("report %v: a failed run must still deliver only correct items in order", r)
			}
			if r.Undelivered == 0 || r.Delivered+r.Undelivered != r.Sent {
				t.Fatalf("report %v: every sent item is delivered or counted undelivered", r)
			}
		})
	}
}

func TestInMemoryOnlyOverBudgetFailsWithItsOwnCode(t *testing.T) {
	out := run(t, Config{Workload: small(t, "hol"), Workers: 2, Spill: &spill.Policy{Threshold: tight, InMemoryOnly: true}})
	if !errors.Is(out.Err, spill.ErrSpillDisabled) || out.ExitCode != ExitMemory {
		t.Fatalf("error %v exit %d, want ErrSpillDisabled and %d", out.Err, out.ExitCode, ExitMemory)
	}
	if !out.Report.Clean() || out.Report.Undelivered == 0 {
		t.Fatalf("report %v", out.Report)
	}
}

func TestCancelStopsEveryGoroutine(t *testing.T) {
	// Prepared, so the run starts at once and is still going when the
	// cancel comes: 6000 files of 3 to 51 KiB take several times longer
	// to checksum than the 20 ms the test waits.
	wl := Prepare(must(NewWorkload(WorkloadSpec{Name: "bulk", Items: 6000, Scale: 0.05, Seed: 1})))
	for _, sched := range []Schedule{Seeded, Free} {
		t.Run(sched.String(), func(t *testing.T) {
			fds := openFDs(t)
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(20*time.Millisecond, cancel)
			out, err := Run(ctx, Config{Workload: wl, Workers: 2, Schedule: sched, Spill: &spill.Policy{Threshold: tight, Dir: t.TempDir()}})
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(out.Err, context.Canceled) || out.ExitCode != ExitSignal {
				t.Fatalf("error %v exit %d, want context.Canceled and %d", out.Err, out.ExitCode, ExitSignal)
			}
			// The consumer may or may not have caught up when the cancel came.
			if r := out.Report; !r.Clean() || r.Delivered+r.Undelivered != r.Sent || r.Sent == int64(wl.Len()) {
				t.Fatalf("report %v: want a run stopped part way, nothing lost", out.Report)
			}
			// goleak in TestMain proves the goroutines are gone; the spill
			// file must be closed too.
			if after := openFDs(t); after != fds {
				t.Fatalf("%d open files after a cancelled run, %d before", after, fds)
			}
		})
	}
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	return len(ents)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// panicky is a workload whose item 7 has no strategy the workers know.
type panicky struct{ Workload }

func (p panicky) Item(seq uint64) Item {
	it := p.Workload.Item(seq)
	if seq == 7 {
		it.Strategy = 99
	}
	return it
}

func TestWorkerPanicStopsTheRun(t *testing.T) {
	out := run(t, Config{Workload: panicky{small(t, "mix")}, Workers: 2})
	if !errors.Is(out.Err, ErrWorkerPanic) || out.ExitCode != ExitCrashed || out.Panics != 1 {
		t.Fatalf("error %v exit %d panics %d, want a worker panic, exit %d", out.Err, out.ExitCode, out.Panics, ExitCrashed)
	}
	if !out.Report.Clean() {
		t.Fatalf("report %v", out.Report)
	}
}

// panicAt is a workload whose producer (Item) panics at item 7, or whose
// consumer panics at the first delta it verifies (only the verifier asks
// for Basis).
type panicAt struct {
	Workload
	in string
}

func (p panicAt) Item(seq uint64) Item {
	if p.in == "producer" && seq == 7 {
		panic("the producer's planted panic")
	}
	return p.Workload.Item(seq)
}

func (p panicAt) Basis(seq uint64) []byte {
	if p.in == "consumer" {
		panic("the consumer's planted panic")
	}
	return p.Workload.Basis(seq)
}

// A panic in any goroutine of the run ends the run with a *PanicError
// carrying the panic's stack, instead of the process: the caller's
// teardown must run.
func TestPanicInAnyGoroutineIsTheRunsError(t *testing.T) {
	for _, tc := range []struct {
		where string
		wl    Workload
		at    string // a function the panic's stack must show
	}{
		{"producer", panicAt{small(t, "hol"), "producer"}, "engine.panicAt.Item"},
		{"worker on item 7", panicky{small(t, "mix")}, "engine.(*worker).process"},
		{"consumer", panicAt{small(t, "tree"), "consumer"}, "engine.(*verifier).intact"},
	} {
		t.Run(tc.where, func(t *testing.T) {
			policy := spill.Policy{Threshold: tight, Dir: t.TempDir()}
			// Free: the seeded schedule asks the workload for every item
			// before the run's goroutines start.
			out := run(t, Config{Workload: tc.wl, Workers: 2, Schedule: Free, Spill: &policy})
			var pe *PanicError
			if !errors.As(out.Err, &pe) || !errors.Is(out.Err, ErrWorkerPanic) {
				t.Fatalf("error %v, want a *PanicError matching ErrWorkerPanic", out.Err)
			}
			if pe.Where != tc.where || !strings.Contains(pe.Error(), tc.at) || !strings.Contains(pe.Stack, "panic(") {
				t.Fatalf("panic in %q, want %q, with %s on its stack:\n%v", pe.Where, tc.where, tc.at, pe)
			}
			if out.ExitCode != ExitCrashed || out.Panics != 1 {
				t.Fatalf("exit %d, panics %d; want %d, 1", out.ExitCode, out.Panics, ExitCrashed)
			}
		})
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Workload: small(t, "mix"), Workers: -1},
		{Workload: small(t, "mix"), Spill: &spill.Policy{Threshold: -5}},
	} {
		if _, err := Run(t.Context(), cfg); err == nil {
			t.Errorf("Run(%+v) accepted it", cfg)
		}
	}
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		rep  Report
		want int
	}{
		{nil, Report{Sent: 3, Delivered: 3}, ExitOK},
		{nil, Report{Sent: 3, Delivered: 2, Lost: 1}, ExitPartial},
		{&spill.IOError{Err: unix.ENOSPC}, Report{}, ExitFileIO},
		{&spill.PriorSpillsLostError{}, Report{}, ExitFileIO},
		{&spill.TempVanishedError{}, Report{}, ExitFileIO},
		{&spill.CorruptRecordError{}, Report{}, ExitFileIO},
		{&spill.UnsupportedCompressionError{}, Report{}, ExitFileIO},
		{fmt.Errorf("x: %w", spill.ErrSpillDisabled), Report{}, ExitMemory},
		{&spill.CapacityError{}, Report{}, ExitIPC},
		{ErrWorkerPanic, Report{}, ExitCrashed},
		{context.Canceled, Report{}, ExitSignal},
		{errors.New("other"), Report{}, ExitOther},
	} {
		if got := ExitCode(tc.err, tc.rep); got != tc.want {
			t.Errorf("ExitCode(%v, %v) = %d, want %d", tc.err, tc.rep, got, tc.want)
		}
	}
}

// The config's defaults are the documented ones, an explicit setting is
// kept, and the planted slowdown is bounded at 0 and 10 inclusive.
func TestConfigDefaultsAndBounds(t *testing.T) {
	wl := small(t, "mix")
	c, err := Config{Workload: wl}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if w := runtime.GOMAXPROCS(0); c.Workers != w || c.QueueDepth != 16*w || c.RingCapacity != DefaultRingCapacity ||
		c.SampleEvery != 5*time.Millisecond || c.GateWindow != max(64, w) {
		t.Errorf("defaults %+v", c)
	}
	c, err = Config{Workload: wl, Workers: 3, QueueDepth: 5, SampleEvery: time.Second, GateWindow: 2}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Workers != 3 || c.QueueDepth != 5 || c.SampleEvery != time.Second || c.GateWindow != 3 {
		t.Errorf("explicit settings not kept (the gate window at least the workers): %+v", c)
	}
	if c, _ := (Config{Workload: wl, Workers: 5}).withDefaults(); c.QueueDepth != 80 {
		t.Errorf("5 workers: queue depth %d, want 16 a worker", c.QueueDepth)
	}
	for _, s := range []float64{0, 0.05, 10} {
		if _, err := (Config{Workload: wl, Slowdown: s}).withDefaults(); err != nil {
			t.Errorf("slowdown %g refused: %v", s, err)
		}
	}
	for _, s := range []float64{-0.01, 10.01} {
		if _, err := (Config{Workload: wl, Slowdown: s}).withDefaults(); err == nil {
			t.Errorf("slowdown %g accepted", s)
		}
	}
}

func TestOutcomeRates(t *testing.T) {
	var o Outcome
	o.Report.Delivered, o.Bytes, o.Wall = 100, 1000, 2*time.Second
	if o.ItemsPerSec() != 50 || o.BytesPerSec() != 500 {
		t.Errorf("100 items and 1000 bytes in 2 s: %g items/s, %g bytes/s", o.ItemsPerSec(), o.BytesPerSec())
	}
}

// Without a spill buffer the peak buffered bytes are the reorder
// window's, not the run's: four times the items leave the peak about
// where it was (the seeded schedule fixes the arrival order), where
// counting deliveries up instead of down would quadruple it.
func TestBareRingPeakIsTheWindows(t *testing.T) {
	peak := func(items int) int64 {
		wl, err := NewWorkload(WorkloadSpec{Name: "mix", Items: items})
		if err != nil {
			t.Fatal(err)
		}
		return run(t, Config{Workload: wl, Workers: 2, Schedule: Seeded}).PeakBuffered
	}
	small, large := peak(1000), peak(4000)
	if small <= 0 || large > 2*small {
		t.Fatalf("peak buffered %d bytes for 1000 items, %d for 4000", small, large)
	}
}

// A window wider than any result's lead never forces an insert, however
// far into the run the sequence numbers get: 3000 mix items through a
// 2048-result window, with the bare ring and with the spill buffer.
func TestNoInsertIsForcedWithinTheWindow(t *testing.T) {
	for name, sp := range map[string]*spill.Policy{"bare": nil, "spill": {Threshold: tightFor("mix"), Dir: t.TempDir()}} {
		out := run(t, Config{Workload: small(t, "mix"), Workers: 2, RingCapacity: 2048, Spill: sp})
		if out.Err != nil || !out.Report.Clean() || out.Report.Delivered != 3000 {
			t.Fatalf("%s: %v %v", name, out.Err, out.Report)
		}
		if out.ForcedInserts != 0 {
			t.Errorf("%s: %d inserts forced into a 2048-result window", name, out.ForcedInserts)
		}
	}
}

// A second result for a delivered item is a duplicate, not an insert
// forced past the window.
func TestDuplicateIsNotAForcedInsert(t *testing.T) {
	wl := small(t, "mix")
	p := &pipeline{buf: bareRing{spill.NewRing[Result](8)}, verify: newVerifier(wl)}
	r := Result{Seq: 0}
	for range 2 {
		if err := p.insert(r); err != nil {
			t.Fatal(err)
		}
		if _, err := p.drain(); err != nil {
			t.Fatal(err)
		}
	}
	if p.verify.report.Duplicated != 1 || p.verify.report.Delivered != 1 || p.window.forced != 0 {
		t.Fatalf("item 0 twice: %+v, %d forced inserts; want one delivered, one duplicate, none forced",
			p.verify.report, p.window.forced)
	}
}
