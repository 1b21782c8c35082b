package engine

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/spill"
)

func TestProbeFailsTheRunBeforeAnyWork(t *testing.T) {
	// A spill directory that cannot take a file: with Probe the run stops
	// at the probe, typed and with nothing sent; without it the same
	// filesystem runs to the end, because the probe site is never called.
	for _, probe := range []bool{true, false} {
		efs := &errFS{FS: spill.OS, site: spill.SiteDirProbe, nth: 1, err: unix.EROFS}
		out := run(t, Config{Workload: small(t, "hol"), Workers: 2, Probe: probe,
			Spill: &spill.Policy{Threshold: tight, Dir: t.TempDir(), FS: efs}})
		if !probe {
			if out.Err != nil || !out.Report.Clean() || efs.calls != 0 {
				t.Fatalf("without probe: %v %v after %d probe calls; want a clean run and no probe", out.Err, out.Report, efs.calls)
			}
			continue
		}
		var ioe *spill.IOError
		if !errors.As(out.Err, &ioe) || ioe.Site != spill.SiteDirProbe || !errors.Is(out.Err, unix.EROFS) {
			t.Fatalf("probe error %v; want an *IOError at %s wrapping EROFS", out.Err, spill.SiteDirProbe)
		}
		if out.ExitCode != ExitFileIO || out.Report.Sent != 0 || out.Report.Delivered != 0 {
			t.Fatalf("exit %d, report %v; want %d with nothing sent", out.ExitCode, out.Report, ExitFileIO)
		}
	}
}

func TestWindowDiagnostics(t *testing.T) {
	// hol's stragglers hold up delivery: results pile up behind each one
	// (a stall), and a window narrower than the pile forces inserts.
	wide := run(t, Config{Workload: small(t, "hol"), Workers: 2, RingCapacity: 4096}) // wider than the workload
	narrow := run(t, Config{Workload: small(t, "hol"), Workers: 2, RingCapacity: 8})
	for name, out := range map[string]Outcome{"wide": wide, "narrow": narrow} {
		if out.Err != nil || !out.Report.Clean() {
			t.Fatalf("%s: %v %v", name, out.Err, out.Report)
		}
		if out.PeakItems < 2 || out.Stalled <= 0 || out.Stalled > out.Wall {
			t.Fatalf("%s: peak %d items, stalled %v of %v; want a pile behind a straggler and a stall within the run",
				name, out.PeakItems, out.Stalled, out.Wall)
		}
	}
	if wide.ForcedInserts != 0 || wide.PeakItems > 1500 {
		t.Fatalf("wide window: %d forced inserts, peak %d items; want none forced and at most the 1500 items", wide.ForcedInserts, wide.PeakItems)
	}
	if narrow.ForcedInserts <= 0 || narrow.PeakItems <= 8 {
		t.Fatalf("8-result window: %d forced inserts, peak %d items; want inserts forced past the window", narrow.ForcedInserts, narrow.PeakItems)
	}
	// The spill buffer counts what it holds on disk too.
	sp := run(t, Config{Workload: small(t, "hol"), Workers: 2, Spill: &spill.Policy{Threshold: tight, Dir: t.TempDir()}})
	if sp.Err != nil || sp.Spill.ItemsSpilled == 0 || sp.PeakItems < wide.PeakItems/2 {
		t.Fatalf("spilling run: %v, %d items spilled, peak %d items against %d unspilled", sp.Err, sp.Spill.ItemsSpilled, sp.PeakItems, wide.PeakItems)
	}
}

func TestInOrderArrivalNeverStalls(t *testing.T) {
	var w window
	for range 100 {
		w.held(1)
		w.settled(0) // delivered at once
	}
	w.finish()
	if w.stalled != 0 || w.peak != 1 || w.forced != 0 {
		t.Fatalf("in-order window: %+v; want no stall and a peak of 1", w)
	}
	w.held(3)
	w.settled(2)
	if w.since.IsZero() {
		t.Fatal("two results held with none due: a stall must have begun")
	}
	w.finish()
	if w.stalled <= 0 || !w.since.IsZero() {
		t.Fatalf("finish must close the open stall: %+v", w)
	}
}
