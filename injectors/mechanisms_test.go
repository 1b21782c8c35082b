package injectors_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spillbench/spillbench/injectors"
	"github.com/spillbench/spillbench/spill"
)

func TestMockErrnoModes(t *testing.T) {
	for _, tc := range []struct {
		mode  injectors.Mode
		errno error
		gran  spill.Granularity
	}{
		{injectors.ModeENOSPC, unix.ENOSPC, spill.Batch},
		{injectors.ModeEDQUOT, unix.EDQUOT, spill.PerItem},
		{injectors.ModeEIO, unix.EIO, spill.Batch},
		{injectors.ModeEFBIG, unix.EFBIG, spill.PerItem},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			r := runUnder(t, injectors.NewMock(), injectors.Fault{Mode: tc.mode, Nth: 3}, tc.gran)
			wantCleanFailure(t, r, tc.errno)
			o, ok := r.firstFailure()
			if !ok || o.Call != 3 || o.Errno != unix.ErrnoName(tc.errno.(unix.Errno)) {
				t.Fatalf("observations %+v, want the 3rd write to fail with %v", r.obs, tc.errno)
			}
			var ioe *spill.IOError
			if !errors.As(r.out.Err, &ioe) || ioe.Site != o.Site || ioe.Offset != o.Offset {
				t.Fatalf("engine error %v; injector saw site %s offset %d", r.out.Err, o.Site, o.Offset)
			}
		})
	}
}

func TestMockAfterBytesWritesWhatFits(t *testing.T) {
	const cap = 200 << 10
	r := runUnder(t, injectors.NewMock(), injectors.Fault{Mode: injectors.ModeENOSPC, AfterBytes: cap}, spill.Batch)
	wantCleanFailure(t, r, unix.ENOSPC)
	if got := r.out.Spill.BytesWritten; got > cap {
		t.Fatalf("%d bytes committed past a %d-byte cap", got, cap)
	}
	o, _ := r.firstFailure()
	if !strings.Contains(o.Note, "bytes let through") || o.Offset < 0 {
		t.Fatalf("observation %+v", o)
	}
}

func TestMockShortWrite(t *testing.T) {
	r := runUnder(t, injectors.NewMock(), injectors.Fault{Mode: injectors.ModeShortWrite, Nth: 2}, spill.PerItem)
	wantCleanFailure(t, r, nil)
	var ioe *spill.IOError
	if !errors.As(r.out.Err, &ioe) {
		t.Fatalf("error %v, want an IOError", r.out.Err)
	}
}

func TestMockVanishAfterCommitReportsTheLoss(t *testing.T) {
	r := runUnder(t, injectors.NewMock(), injectors.Fault{Mode: injectors.ModeENOENT, Nth: 4}, spill.Batch)
	wantCleanFailure(t, r, nil)
	var lost *spill.PriorSpillsLostError
	if !errors.As(r.out.Err, &lost) {
		t.Fatalf("error %v, want PriorSpillsLost", r.out.Err)
	}
	// The count it reports is what was on disk when it failed.
	if lost.Records != r.out.Spill.SpilledRecords || lost.Items != r.out.Spill.SpilledItems || lost.Records == 0 {
		t.Fatalf("reported %d records / %d items; the buffer held %d / %d", lost.Records, lost.Items, r.out.Spill.SpilledRecords, r.out.Spill.SpilledItems)
	}
	if r.out.Report.Undelivered < int64(lost.Items) {
		t.Fatalf("report %v: the %d lost items must be among the undelivered", r.out.Report, lost.Items)
	}
}

func TestMockVanishBeforeCommitRecovers(t *testing.T) {
	r := runUnder(t, injectors.NewMock(), injectors.Fault{Mode: injectors.ModeENOENT, Site: spill.SiteBackendCreate}, spill.Batch)
	wantUnaffected(t, r)
	if r.out.Spill.DirRecreations != 1 {
		t.Fatalf("%d directory re-creations, want 1", r.out.Spill.DirRecreations)
	}
	r = runUnder(t, injectors.NewMock(), injectors.Fault{Mode: injectors.ModeENOENT, Site: spill.SiteBackendCreate, Persistent: true}, spill.Batch)
	wantCleanFailure(t, r, nil)
	var gone *spill.TempVanishedError
	if !errors.As(r.out.Err, &gone) {
		t.Fatalf("error %v, want TempVanished", r.out.Err)
	}
}

func TestMockRuleNarrowsTheFault(t *testing.T) {
	// strike runs under rule with every call traced and returns the
	// first failure and its index among all calls (rules see that index;
	// a failure's Call counts only the calls its rule selected).
	strike := func(rule string) (injectors.Observation, int) {
		t.Helper()
		m := injectors.NewMock()
		m.Trace = true
		r := runUnder(t, m, injectors.Fault{Mode: injectors.ModeEIO, Rule: rule}, spill.PerItem)
		wantCleanFailure(t, r, unix.EIO)
		traced := 0
		for _, o := range r.obs {
			if o.Errno != "" {
				return o, traced + 1
			}
			if o.Note == "traced" {
				traced++
			}
		}
		t.Fatalf("%s: no failure", rule)
		return injectors.Observation{}, 0
	}
	// The broad rule strikes the first per-item record write.
	o, first := strike(`(and (op write) (site record.write))`)
	if o.Site != spill.SiteRecordWrite {
		t.Fatalf("broad rule fired at %s", o.Site)
	}
	// With a seed whose random half holds for that call, the narrowed
	// rule must pass it over and strike a later record write it matches.
	seed := 0
	for s := 1; s < 100 && seed == 0; s++ {
		if rnd, _ := injectors.ParseRule(fmt.Sprintf("(randomly 0.5 %d)", s)); rnd.Match(injectors.Op{Index: first}) {
			seed = s
		}
	}
	rule := fmt.Sprintf(`(and (op write) (site record.write) (not (randomly 0.5 %d)))`, seed)
	o, at := strike(rule)
	parsed, err := injectors.ParseRule(rule)
	if err != nil {
		t.Fatal(err)
	}
	if o.Site != spill.SiteRecordWrite || at <= first || !parsed.Match(injectors.Op{Kind: injectors.OpWrite, Site: o.Site, Index: at}) {
		t.Fatalf("narrowed rule fired at %s, call %d; want a record write after call %d that the rule matches", o.Site, at, first)
	}
	if err := injectors.NewMock().Arm(injectors.Fault{Mode: injectors.ModeEIO, Rule: "(op seek)"}); err == nil {
		t.Fatal("a rule on seek, which the seam never does, was accepted")
	}
}

func TestTmpfsSizeCap(t *testing.T) {
	inj := injectors.NewTmpfs()
	available(t, inj)
	const cap = 256 << 10
	r := runUnder(t, inj, injectors.Fault{Mode: injectors.ModeENOSPC, AfterBytes: cap}, spill.Batch)
	wantCleanFailure(t, r, unix.ENOSPC)
	o, ok := r.firstFailure()
	if !ok || o.Op != "write" || o.Offset > cap {
		t.Fatalf("first failure %+v: want ENOSPC from write at or before %d bytes", o, cap)
	}
}

func TestTmpfsInodeCap(t *testing.T) {
	inj := injectors.NewTmpfs()
	available(t, inj)
	r := runUnder(t, inj, injectors.Fault{Mode: injectors.ModeInodes}, spill.Batch)
	wantCleanFailure(t, r, unix.ENOSPC)
	if o, _ := r.firstFailure(); o.Site != spill.SiteBackendCreate {
		t.Fatalf("first failure %+v, want ENOSPC at backend.create", o)
	}
}

func TestFallocateFiller(t *testing.T) {
	inj := injectors.NewFallocate()
	available(t, inj)
	const free = 256 << 10
	r := runUnder(t, inj, injectors.Fault{Mode: injectors.ModeENOSPC, AfterBytes: free}, spill.Batch)
	wantCleanFailure(t, r, unix.ENOSPC)
	o, ok := r.firstFailure()
	if !ok || o.Offset > free {
		t.Fatalf("first failure %+v: want ENOSPC at or before %d bytes", o, free)
	}
	t.Logf("ENOSPC after %d of %d free bytes", o.Offset, free)
}

func TestFuseErrnoModes(t *testing.T) {
	inj := injectors.NewFuse()
	available(t, inj)
	for _, tc := range []struct {
		mode  injectors.Mode
		errno error
	}{
		{injectors.ModeENOSPC, unix.ENOSPC},
		{injectors.ModeEDQUOT, unix.EDQUOT},
		{injectors.ModeEIO, unix.EIO},
		{injectors.ModeEFBIG, unix.EFBIG},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			r := runUnder(t, injectors.NewFuse(), injectors.Fault{Mode: tc.mode, Nth: 3, Persistent: true}, spill.Batch)
			wantCleanFailure(t, r, tc.errno)
		})
	}
}

func TestFuseAfterBytesAndProbability(t *testing.T) {
	available(t, injectors.NewFuse())
	r := runUnder(t, injectors.NewFuse(), injectors.Fault{Mode: injectors.ModeENOSPC, AfterBytes: 128 << 10}, spill.Batch)
	wantCleanFailure(t, r, unix.ENOSPC)
	r = runUnder(t, injectors.NewFuse(), injectors.Fault{Mode: injectors.ModeEIO, Probability: 0.2, Seed: 9}, spill.PerItem)
	wantCleanFailure(t, r, unix.EIO)
}

func TestFuseCreateENOENT(t *testing.T) {
	available(t, injectors.NewFuse())
	r := runUnder(t, injectors.NewFuse(), injectors.Fault{Mode: injectors.ModeENOENT, Persistent: true}, spill.Batch)
	wantCleanFailure(t, r, nil)
	var gone *spill.TempVanishedError
	if !errors.As(r.out.Err, &gone) {
		t.Fatalf("error %v, want TempVanished", r.out.Err)
	}
}

func TestFuseLatency(t *testing.T) {
	available(t, injectors.NewFuse())
	r := runUnder(t, injectors.NewFuse(), injectors.Fault{Mode: injectors.ModeLatency, Latency: 2 * time.Millisecond, Persistent: true}, spill.Batch)
	wantUnaffected(t, r)
	if len(r.obs) == 0 || !strings.HasPrefix(r.obs[0].Note, "delayed") {
		t.Fatalf("observations %+v", r.obs)
	}
}

func TestFuseServerAbort(t *testing.T) {
	available(t, injectors.NewFuse())
	r := runUnder(t, injectors.NewFuse(), injectors.Fault{Mode: injectors.ModeUnmount, Nth: 3}, spill.Batch)
	wantCleanFailure(t, r, unix.ENOTCONN)
}

func TestVanishModes(t *testing.T) {
	for _, mode := range []injectors.Mode{injectors.ModeUnlinkOpen, injectors.ModeReplace, injectors.ModeRmdirBurst, injectors.ModeRmdirBetween, injectors.ModeUnmount} {
		t.Run(string(mode), func(t *testing.T) {
			inj := injectors.NewVanish()
			available(t, inj, mode)
			r := runUnder(t, inj, injectors.Fault{Mode: mode}, spill.Batch)
			fired := false
			for _, o := range r.obs {
				if o.Op != "" && o.Call > 0 && o.Mode == mode && strings.HasPrefix(o.Note, "vanished") {
					fired = true
				}
			}
			if !fired {
				t.Fatalf("the vanish never happened: %+v", r.obs)
			}
			// An open descriptor outlives its name, directory and a lazy
			// unmount: the engine must carry on unharmed.
			wantUnaffected(t, r)
		})
	}
}

func TestMockCloseErrorIsReported(t *testing.T) {
	// Out of space can first show at close: everything was delivered, but
	// the run still ends on the typed error.
	r := runUnder(t, injectors.NewMock(), injectors.Fault{Mode: injectors.ModeENOSPC, Site: spill.SiteBackendClose}, spill.Batch)
	var ioe *spill.IOError
	if !errors.As(r.out.Err, &ioe) || ioe.Site != spill.SiteBackendClose || !spill.IsOutOfSpace(r.out.Err) {
		t.Fatalf("error %v, want out of space at backend.close", r.out.Err)
	}
	if r.out.ExitCode != 11 || !r.out.Report.Clean() || r.out.Report.Delivered != r.out.Report.Sent {
		t.Fatalf("exit %d, report %v: want exit 11 with everything delivered", r.out.ExitCode, r.out.Report)
	}
}

// mockWrites writes chunks of 100 bytes through a mock armed with fault
// and returns, per write, how many bytes reached the file and whether it
// failed.
func mockWrites(t *testing.T, fault injectors.Fault, dir string, writes int) (n []int, failed []bool) {
	t.Helper()
	m := injectors.NewMock()
	if err := m.Arm(fault); err != nil {
		t.Fatal(err)
	}
	fs := m.Wrap(spill.OS)
	f, _, err := fs.CreateTemp(spill.SiteBackendCreate, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(spill.SiteBackendClose)
	chunk := make([]byte, 100)
	for i := range writes {
		k, err := f.WriteAt(spill.SiteBatchWrite, chunk, int64(100*i))
		n, failed = append(n, k), append(failed, err != nil)
	}
	return n, failed
}

// AfterBytes fails the write that crosses the cap, letting what fits
// through; from then on every write fails only if the fault persists.
func TestMockAfterBytesHonoursPersistent(t *testing.T) {
	for _, persistent := range []bool{false, true} {
		n, failed := mockWrites(t, injectors.Fault{Mode: injectors.ModeENOSPC, AfterBytes: 250, Persistent: persistent}, t.TempDir(), 5)
		wantN, wantFailed := []int{100, 100, 50, 100, 100}, []bool{false, false, true, false, false}
		if persistent {
			wantN, wantFailed = []int{100, 100, 50, 0, 0}, []bool{false, false, true, true, true}
		}
		if !slices.Equal(n, wantN) || !slices.Equal(failed, wantFailed) {
			t.Errorf("persistent %t: wrote %v, failed %v; want %v, %v", persistent, n, failed, wantN, wantFailed)
		}
	}
}

// A rule's path predicate sees the file a write, read or close acts on,
// not only the directory it was created in.
func TestMockRulePathSeesTheFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, injectors.AnonymousFile) // spill.OS makes it with O_TMPFILE
	for rule, want := range map[string]bool{
		`(and (op write) (path ` + fmt.Sprintf("%q", file) + `))`:                    true,
		`(and (op write) (path ` + fmt.Sprintf("%q", filepath.Join(dir, "*")) + `))`: true,
		`(and (op write) (path ` + fmt.Sprintf("%q", dir) + `))`:                     false,
	} {
		_, failed := mockWrites(t, injectors.Fault{Mode: injectors.ModeEIO, Rule: rule}, dir, 1)
		if failed[0] != want {
			t.Errorf("%s: the write failed %t, want %t", rule, failed[0], want)
		}
	}
}
