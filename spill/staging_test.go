package spill

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Staging: records combined into writes, reloads read ahead, and the
// failure contract where a write carries many records.

// newStaged returns a buffer with staging on: half of a 4 KiB budget,
// unless the policy says otherwise.
func newStaged(t *testing.T, p Policy) *Buffer[[]byte] {
	t.Helper()
	if p.Threshold == 0 {
		p.Threshold = 4 << 10
	}
	if p.IOBuffer == 0 {
		p.IOBuffer = p.Threshold / 2
	}
	return newBuffer(t, 4096, p)
}

// arriveLate inserts seqs 1..n-1 and then 0, the way a stall makes the
// buffer spill, of size bytes each.
func arriveLate(t *testing.T, b *Buffer[[]byte], size int, n uint64) {
	t.Helper()
	insertAll(t, b, size, seqRange(1, n)...)
	insertAll(t, b, size, 0)
}

func TestStagingCombinesWritesAndReadsAhead(t *testing.T) {
	for _, g := range []Granularity{PerItem, Batch} {
		t.Run(g.String(), func(t *testing.T) {
			ffs := newFaultFS(nil)
			b := newStaged(t, Policy{Granularity: g, Dir: t.TempDir(), FS: ffs})
			arriveLate(t, b, 100, 2000)
			drainExpect(t, b, 100, 0, 2000)
			s := b.Stats()
			if s.ItemsSpilled < 1500 {
				t.Fatalf("%d items spilled; the test needs most of them on disk", s.ItemsSpilled)
			}
			if s.WriteCalls*10 > s.ItemsSpilled {
				t.Errorf("%d write calls for %d spilled items: staging did not combine them", s.WriteCalls, s.ItemsSpilled)
			}
			if int64(ffs.count(writeSite(g))) != s.WriteCalls {
				t.Errorf("stats say %d writes, the filesystem saw %d", s.WriteCalls, ffs.count(writeSite(g)))
			}
			if reads := int64(ffs.count(SiteReloadHeader) + ffs.count(SiteReloadPayload)); reads != s.ReadCalls || reads*5 > s.ReloadEvents && g == PerItem {
				t.Errorf("%d read calls (stats %d) for %d reloads: reads did not serve several records", reads, s.ReadCalls, s.ReloadEvents)
			}
			// What the buffer holds stays within the budget plus the hot
			// zone, which eviction never touches.
			if bound := b.threshold + hotZoneMax*100; s.PeakMemory > bound {
				t.Errorf("peak memory %d, bound %d", s.PeakMemory, bound)
			}
		})
	}
}

func TestStagedRecordsReloadedBeforeTheirWriteNeverReachTheFile(t *testing.T) {
	ffs := newFaultFS(nil)
	b := newStaged(t, Policy{Threshold: 64 << 10, Granularity: PerItem, Dir: t.TempDir(), FS: ffs})
	insertAll(t, b, 100, seqRange(1, 40)...)
	squeeze(b, 3000) // the items' share drops to 1000 bytes: most must go
	if err := b.evict(false); err != nil {
		t.Fatal(err)
	}
	s := b.Stats()
	if s.ItemsSpilled == 0 || s.WriteCalls != 0 || len(b.pend) == 0 {
		t.Fatalf("%d items spilled, %d writes, %d bytes staged: want them all staged", s.ItemsSpilled, s.WriteCalls, len(b.pend))
	}
	if got := s.MemoryUsed; got != b.items+int64(len(b.pend)) {
		t.Fatalf("memory %d does not count the %d staged bytes beside %d of items", got, len(b.pend), b.items)
	}
	squeeze(b, 64<<10)
	insertAll(t, b, 100, 0)
	drainExpect(t, b, 100, 0, 40)
	if s := b.Stats(); s.BytesWritten != 0 || s.BytesRead != 0 || ffs.count(SiteBackendCreate) != 0 {
		t.Fatalf("%d bytes written, %d read, %d files created: staged records reloaded before their write must not touch the disk", s.BytesWritten, s.BytesRead, ffs.count(SiteBackendCreate))
	}
}

func TestFailedFlushPutsStagedItemsBack(t *testing.T) {
	for _, g := range []Granularity{PerItem, Batch} {
		for _, errno := range []unix.Errno{unix.ENOSPC, unix.EIO} {
			// The first write (everything in the file was staged) or a later one.
			for _, nth := range []int{1, 2} {
				for _, partial := range []int{0, 700} {
					t.Run(fmt.Sprintf("%s/%s/write=%d/partial=%d", g, unix.ErrnoName(errno), nth, partial), func(t *testing.T) {
						testFailedFlush(t, g, errno, nth, partial)
					})
				}
			}
		}
	}
}

func testFailedFlush(t *testing.T, g Granularity, errno unix.Errno, nth, partial int) {
	ffs := newFaultFS(nil)
	ffs.add(&fault{site: writeSite(g), nth: nth, times: 1, err: errno, partial: partial})
	b := newStaged(t, Policy{Granularity: g, Dir: t.TempDir(), FS: ffs})
	var failed error
	seq := uint64(1)
	for ; failed == nil && seq < 3000; seq++ {
		failed = b.Insert(seq, payload(seq, 100))
	}
	ioe := mustErrAs[*IOError](t, failed)
	if !errors.Is(failed, errno) || ioe.Site != writeSite(g) || ioe.Items == 0 {
		t.Fatalf("error %v: want %v at %s naming the staged items it kept", failed, errno, writeSite(g))
	}
	// Putting the staged items back went right: the write's failure is
	// the only one reported.
	if ce := (*CorruptRecordError)(nil); errors.As(failed, &ce) {
		t.Fatalf("error %v: the staged records decoded, yet a corrupt record is reported", failed)
	}
	if b.Len() != int(seq-1) {
		t.Fatalf("Len = %d after the failed write, want all %d inserted", b.Len(), seq-1)
	}
	ffs.clear()
	insertAll(t, b, 100, 0)
	drainExpect(t, b, 100, 0, seq)
}

func TestFailedFlushBeforeAReadKeepsEverything(t *testing.T) {
	ffs := newFaultFS(nil)
	b := newStaged(t, Policy{Granularity: PerItem, Dir: t.TempDir(), FS: ffs})
	insertAll(t, b, 100, seqRange(1, 400)...)
	if len(b.pend) <= int(b.stage/4) {
		t.Skipf("%d bytes staged; the test needs a reload to write them first", len(b.pend))
	}
	ffs.add(&fault{site: SiteRecordWrite, nth: 1, err: unix.ENOSPC})
	insertAll(t, b, 100, 0)
	got, err := b.DrainReady(nil)
	if ioe := mustErrAs[*IOError](t, err); ioe.Items == 0 {
		t.Fatalf("error %v does not say which items it kept", err)
	}
	ffs.clear()
	rest, err := b.DrainReady(nil)
	if err != nil || len(got)+len(rest) != 400 {
		t.Fatalf("delivered %d then %d (%v); want all 400", len(got), len(rest), err)
	}
	for i, v := range append(got, rest...) {
		if string(v) != string(payload(uint64(i), 100)) {
			t.Fatalf("item %d is not what was inserted", i)
		}
	}
}

func TestVanishedDirBeforeTheFirstFlushIsRecreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spill")
	b := newStaged(t, Policy{Granularity: PerItem, Dir: dir})
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	arriveLate(t, b, 100, 300)
	if s := b.Stats(); s.DirRecreations != 1 || s.WriteCalls == 0 {
		t.Fatalf("stats %+v: want the directory re-created once and the staged records written", s)
	}
	drainExpect(t, b, 100, 0, 300)
}

func TestVanishedDirAfterAFlushKeepsStagedItems(t *testing.T) {
	ffs := newFaultFS(nil)
	b := newStaged(t, Policy{Granularity: PerItem, Dir: t.TempDir(), FS: ffs})
	seq := uint64(1)
	for ; b.Stats().WriteCalls == 0; seq++ {
		insertAll(t, b, 100, seq)
	}
	ffs.add(&fault{site: SiteRecordWrite, nth: 1, err: fs.ErrNotExist})
	var err error
	for ; err == nil; seq++ {
		err = b.Insert(seq, payload(seq, 100))
	}
	lost := mustErrAs[*PriorSpillsLostError](t, err)
	if lost.Records == 0 || b.Stats().DirRecreations != 0 {
		t.Fatalf("%v: want the written records reported lost and no re-creation", err)
	}
	if b.Len() != int(seq-1) {
		t.Fatalf("Len = %d, want all %d inserted: the staged items were in memory", b.Len(), seq-1)
	}
	ffs.clear()
	insertAll(t, b, 100, 0)
	drainExpect(t, b, 100, 0, seq)
}

func TestCorruptRecordInTheReadAheadWindow(t *testing.T) {
	// The spooled backend keeps the file in a slice the test can damage.
	b := newStaged(t, Policy{Granularity: PerItem})
	insertAll(t, b, 100, seqRange(1, 400)...)
	off, ok := b.index.get(30)
	if !ok || off >= b.pendOff {
		t.Fatalf("seq 30 at %d (written up to %d); the test needs it in the file", off, b.pendOff)
	}
	sp := b.file.(*spooled)
	sp.mem[off+headerSize+5] ^= 0x40
	insertAll(t, b, 100, 0)
	got, err := b.DrainReady(nil)
	if ce := mustErrAs[*CorruptRecordError](t, err); ce.Offset != off || len(got) != 30 {
		t.Fatalf("%v after %d items: want the damaged record at %d reported after the 30 before it", err, len(got), off)
	}
}

// TestRespillWaitsForTheDelivery is the reference's example: three items of
// 60 bytes under a 100-byte budget, inserted 1, 2, 0. Spilling again only
// after the reloaded item is delivered, and only while still over budget,
// costs one record and one reload; deciding before the delivery cost two
// of each.
func TestRespillWaitsForTheDelivery(t *testing.T) {
	b := newBuffer(t, 16, Policy{Threshold: 100, Reclaim: RespillAfterRead})
	insertAll(t, b, 60, 1, 2, 0)
	drainExpect(t, b, 60, 0, 3)
	if s := b.Stats(); s.SpillEvents != 1 || s.ReloadEvents != 1 {
		t.Fatalf("%d records and %d reloads; the reference makes 1 and 1", s.SpillEvents, s.ReloadEvents)
	}
}
