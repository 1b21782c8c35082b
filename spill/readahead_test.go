package spill

import (
	"io/fs"
	"testing"

	"golang.org/x/sys/unix"
)

// The read-ahead window and the staging area at their edges: what a
// write does to the window, what staging does to it, and the budget they
// share. Every test here uses per-item records of 100-byte items with
// sequence numbers under 128: 126 bytes each.

const raRecord = headerSize + 2 + 100

// stageNow inserts seqs and evicts everything above the hot zone at once,
// as an insert over budget would, with the budget as it was around it.
func stageNow(t *testing.T, b *Buffer[[]byte], seqs ...uint64) {
	t.Helper()
	insertAll(t, b, 100, seqs...)
	th := b.threshold
	squeeze(b, b.stage) // nothing left for items
	if err := b.evict(false); err != nil {
		t.Fatal(err)
	}
	squeeze(b, th)
}

// deliverThrough inserts what is missing below seq and delivers up to and
// including seq, checking every item.
func deliverThrough(t *testing.T, b *Buffer[[]byte], seq uint64) {
	t.Helper()
	for s := b.NextExpected(); s <= seq; s++ {
		if _, spilled := b.index.get(s); !spilled {
			insertAll(t, b, 100, s)
		}
		v, ok, err := b.Next()
		if err != nil || !ok || string(v) != string(payload(s, 100)) {
			t.Fatalf("Next at %d: ok %t, err %v", s, ok, err)
		}
	}
}

// A write over file bytes the read-ahead window holds makes them stale:
// the window goes, and the record written there is read from the file.
// A write just past the window leaves it serving what it holds.
func TestWritesAndTheReadAheadWindow(t *testing.T) {
	t.Run("write into the window", func(t *testing.T) {
		b := newStaged(t, Policy{Threshold: 64 << 10, IOBuffer: 16 << 10, Granularity: PerItem, Dir: t.TempDir()})
		stageNow(t, b, 60)     // 60 at 0
		stageNow(t, b, 20, 21) // 21 at 126, 20 at 252
		if err := b.flush(); err != nil {
			t.Fatal(err)
		}
		// Reloading 20 reads all three records; 21 comes from the window.
		// The end of the data comes back to 126, inside the window.
		deliverThrough(t, b, 21)
		if s := b.Stats(); s.ReadCalls != 1 || len(b.ra) != 3*raRecord {
			t.Fatalf("%d reads, window of %d bytes; want 1 read of all three records", s.ReadCalls, len(b.ra))
		}
		stageNow(t, b, 30) // 30 at 126, where 21 was
		if err := b.flush(); err != nil {
			t.Fatal(err)
		}
		deliverThrough(t, b, 30)
		deliverThrough(t, b, 60)
	})
	t.Run("write past the window", func(t *testing.T) {
		b := newStaged(t, Policy{Threshold: 64 << 10, IOBuffer: 16 << 10, Granularity: PerItem, Dir: t.TempDir()})
		stageNow(t, b, 60) // 60 at 0
		stageNow(t, b, 20) // 20 at 126
		stageNow(t, b, 25) // 25 at 252
		if err := b.flush(); err != nil {
			t.Fatal(err)
		}
		deliverThrough(t, b, 20) // one read of all three; 25 and 60 stay, and so does the end
		stageNow(t, b, 100)      // 100 at 378, just past the window
		if err := b.flush(); err != nil {
			t.Fatal(err)
		}
		deliverThrough(t, b, 25)
		if s := b.Stats(); s.ReadCalls != 1 {
			t.Fatalf("%d reads delivering 20 and 25; the window held 25 and the write after it did not touch it", s.ReadCalls)
		}
		deliverThrough(t, b, 60)
	})
}

// Staged records and the read-ahead window share the staging space:
// staging a record drops the window when, and only when, the two would
// not fit together. What the buffer holds counts both.
func TestStagingAndReadAheadShareTheStagingSpace(t *testing.T) {
	t.Run("no room", func(t *testing.T) {
		b := newStaged(t, Policy{Threshold: 64 << 10, IOBuffer: 4 << 10, Granularity: PerItem, Dir: t.TempDir()})
		stageNow(t, b, seqRange(20, 80)...) // 60 records, more than the staging space holds
		if err := b.flush(); err != nil {
			t.Fatal(err)
		}
		deliverThrough(t, b, 20)
		s := b.Stats()
		if len(b.ra) == 0 || s.MemoryUsed != b.items+s.BytesRead {
			t.Fatalf("memory %d after a read of %d bytes with %d of items: the window must count", s.MemoryUsed, s.BytesRead, b.items)
		}
		stageNow(t, b, 100)
		if held := b.Stats().MemoryUsed - b.items; held > b.stage {
			t.Fatalf("staged records and read-ahead hold %d bytes, over the %d-byte staging space", held, b.stage)
		}
		deliverThrough(t, b, 79)
	})
	t.Run("room to the byte", func(t *testing.T) {
		b := newStaged(t, Policy{Threshold: 64 << 10, IOBuffer: 10 * raRecord, Granularity: PerItem, Dir: t.TempDir()})
		stageNow(t, b, seqRange(20, 29)...) // 28 at 0 ... 20 at 1008
		if err := b.flush(); err != nil {
			t.Fatal(err)
		}
		deliverThrough(t, b, 20) // one read of all nine: a window one record short of the staging space
		stageNow(t, b, 100)      // fills it exactly
		deliverThrough(t, b, 28)
		if s := b.Stats(); s.ReadCalls != 1 {
			t.Fatalf("%d reads delivering 20..28; staging a record that fits beside the window must not drop it", s.ReadCalls)
		}
	})
	t.Run("window beside staged records", func(t *testing.T) {
		// A reload reads ahead only into the room the staged records leave.
		b := newStaged(t, Policy{Threshold: 64 << 10, IOBuffer: 4 << 10, Granularity: PerItem, Dir: t.TempDir()})
		stageNow(t, b, seqRange(20, 80)...)
		if err := b.flush(); err != nil {
			t.Fatal(err)
		}
		stageNow(t, b, 100, 101, 102) // staged, under a quarter of the space: no flush before the read
		deliverThrough(t, b, 20)
		if held := b.Stats().MemoryUsed - b.items; len(b.pend) == 0 || held > b.stage {
			t.Fatalf("%d bytes staged and %d read ahead: over the %d-byte staging space", len(b.pend), len(b.ra), b.stage)
		}
		deliverThrough(t, b, 79)
	})
}

// A directory that vanishes once every written record was delivered, with
// records still staged, is re-created, and the staged records go to the
// start of the new file where their reloads find them.
func TestVanishedDirWithOnlyDeliveredRecordsWritten(t *testing.T) {
	ffs := newFaultFS(nil)
	b := newStaged(t, Policy{Threshold: 64 << 10, IOBuffer: 16 << 10, Granularity: PerItem, Dir: t.TempDir(), FS: ffs})
	stageNow(t, b, seqRange(20, 40)...)
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	stageNow(t, b, seqRange(40, 60)...) // staged behind the written ones
	deliverThrough(t, b, 39)            // every written record delivered
	if b.pendOff == 0 || b.Stats().DirRecreations != 0 {
		t.Fatalf("staged records at %d; the test needs them behind written ones", b.pendOff)
	}
	ffs.add(&fault{site: SiteRecordWrite, nth: 1, times: 1, err: fs.ErrNotExist})
	if err := b.flush(); err != nil {
		t.Fatalf("flush into the vanished directory: %v; nothing live was lost, so it must recover", err)
	}
	if s := b.Stats(); s.DirRecreations != 1 {
		t.Fatalf("%d re-creations, want 1", s.DirRecreations)
	}
	deliverThrough(t, b, 59)
}

// The staging space fills to the byte: records that fill it exactly wait
// there, the next one writes them in one call, and a record exactly the
// size of the space is staged, not written.
func TestStagingFillsToTheByte(t *testing.T) {
	b := newStaged(t, Policy{Threshold: 64 << 10, IOBuffer: 10 * raRecord, Granularity: PerItem, Dir: t.TempDir()})
	stageNow(t, b, seqRange(20, 30)...)
	if s := b.Stats(); s.WriteCalls != 0 || int64(len(b.pend)) != b.stage {
		t.Fatalf("%d writes, %d bytes staged: ten records fill the %d-byte staging space and wait", s.WriteCalls, len(b.pend), b.stage)
	}
	stageNow(t, b, 30)
	if s := b.Stats(); s.WriteCalls != 1 || s.BytesWritten != 10*raRecord {
		t.Fatalf("%d writes of %d bytes; the eleventh record writes the ten before it in one call", s.WriteCalls, s.BytesWritten)
	}
	deliverThrough(t, b, 30)

	one := newStaged(t, Policy{Threshold: 64 << 10, IOBuffer: raRecord, Granularity: PerItem, Dir: t.TempDir()})
	stageNow(t, one, 20)
	if s := one.Stats(); s.WriteCalls != 0 || len(one.pend) != raRecord {
		t.Fatalf("%d writes, %d bytes staged: a record the size of the staging space is staged", s.WriteCalls, len(one.pend))
	}
	deliverThrough(t, one, 20)
}

// A reload writes the staged records first only when they take more than
// a quarter of the staging space: at a quarter exactly they stay staged.
func TestReloadFlushesOnlyPastAQuarterOfTheStagingSpace(t *testing.T) {
	b := newStaged(t, Policy{Threshold: 64 << 10, IOBuffer: 8 * raRecord, Granularity: PerItem, Dir: t.TempDir()})
	stageNow(t, b, seqRange(20, 30)...)
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	stageNow(t, b, 100, 101) // two records: a quarter of eight
	before := b.Stats().WriteCalls
	deliverThrough(t, b, 20) // a reload from the file
	if s := b.Stats(); s.WriteCalls != before || len(b.pend) != 2*raRecord {
		t.Fatalf("%d writes (were %d), %d bytes staged: a quarter of the staging space must wait", s.WriteCalls, before, len(b.pend))
	}
	deliverThrough(t, b, 29)
}

// A read-ahead window is released once the records it holds are all
// reloaded, however many gone records lie between them.
func TestReadAheadWindowGoesWithItsLastRecord(t *testing.T) {
	b := newStaged(t, Policy{Threshold: 64 << 10, IOBuffer: 16 << 10, Granularity: PerItem, Dir: t.TempDir()})
	stageNow(t, b, 20) // at 0
	stageNow(t, b, 50) // at 126
	stageNow(t, b, 21) // at 252
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	insertAll(t, b, 100, 50) // 50 again: its record at 126 is gone
	deliverThrough(t, b, 21) // one read of the three; 20 and 21 served
	if s := b.Stats(); s.ReadCalls != 1 || s.MemoryUsed != b.items || len(b.ra) != 0 {
		t.Fatalf("%d reads, %d bytes held with %d of items: the window must go with the last record it held", s.ReadCalls, s.MemoryUsed, b.items)
	}
	deliverThrough(t, b, 50)
}

// A failed write of staged records where one of them lost every item
// while staged: the records count stays right.
func TestFailedFlushWithAGoneStagedRecord(t *testing.T) {
	ffs := newFaultFS(nil)
	b := newStaged(t, Policy{Threshold: 64 << 10, IOBuffer: 16 << 10, Granularity: PerItem, Dir: t.TempDir(), FS: ffs})
	stageNow(t, b, 20)
	stageNow(t, b, 50)
	stageNow(t, b, 21)
	insertAll(t, b, 100, 50) // the staged record of 50 is gone, between two live ones
	if s := b.Stats(); s.SpilledRecords != 2 || s.SpilledItems != 2 {
		t.Fatalf("%d records, %d items staged; want 2 and 2", s.SpilledRecords, s.SpilledItems)
	}
	ffs.add(&fault{site: SiteRecordWrite, nth: 1, times: 1, err: unix.EIO})
	err := b.flush()
	if ioe := mustErrAs[*IOError](t, err); ioe.Items != 2 {
		t.Fatalf("%v: want the two live items put back", err)
	}
	if s := b.Stats(); s.SpilledRecords != 0 || s.SpilledItems != 0 {
		t.Fatalf("%d records, %d items on disk after every staged record was put back; want 0 and 0", s.SpilledRecords, s.SpilledItems)
	}
	deliverThrough(t, b, 50)
}

// stageEach stages seqs one at a time, so their records lie in the file
// in the order given.
func stageEach(t *testing.T, b *Buffer[[]byte], seqs ...uint64) {
	t.Helper()
	for _, s := range seqs {
		stageNow(t, b, s)
	}
}

// The read-ahead window is placed for the items due next: it starts at the
// earliest record of the next 64 spilled items (within 256 sequence
// numbers) that it can hold together with the record reloaded, and no
// earlier, since every byte before it is a byte less after it.
func TestReadAheadWindowPlacement(t *testing.T) {
	// reads delivers through seq and returns the read calls it took.
	reads := func(t *testing.T, b *Buffer[[]byte], seq uint64) int64 {
		t.Helper()
		if err := b.flush(); err != nil {
			t.Fatal(err)
		}
		deliverThrough(t, b, seq)
		return b.Stats().ReadCalls
	}
	t.Run("record the size of the staging space", func(t *testing.T) {
		b := newStaged(t, Policy{Threshold: 64 << 10, IOBuffer: raRecord, Granularity: PerItem, Dir: t.TempDir()})
		stageNow(t, b, 20)
		if n := reads(t, b, 20); n != 1 {
			t.Fatalf("%d reads of a record that fits the staging space exactly; want it read whole in one", n)
		}
	})
	t.Run("window ending with the record", func(t *testing.T) {
		b := newStaged(t, Policy{Threshold: 64 << 10, IOBuffer: 3 * raRecord, Granularity: PerItem, Dir: t.TempDir()})
		stageEach(t, b, 21, 22, 20) // 21 at 0, 22 at 126, 20 at 252
		if n := reads(t, b, 22); n != 1 {
			t.Fatalf("%d reads delivering 20 to 22; a window from 0 holds all three", n)
		}
	})
	t.Run("the next 64 spilled items", func(t *testing.T) {
		b := newStaged(t, Policy{Threshold: 64 << 10, IOBuffer: 65 * raRecord, Granularity: PerItem, Dir: t.TempDir()})
		stageEach(t, b, 85, 84, 20)          // 85 at 0, 84 at 126, 20 at 252
		stageEach(t, b, seqRange(21, 84)...) // after 20, in order
		// 21 to 84 are the 64 items due after 20: the window starts at 84's
		// record and holds 20 to 84, not 85, the 65th.
		if n := reads(t, b, 84); n != 1 {
			t.Fatalf("%d reads delivering 20 to 84; one window holds them all", n)
		}
		deliverThrough(t, b, 85)
	})
	t.Run("no further than 256 past the cursor", func(t *testing.T) {
		b := newStaged(t, Policy{Threshold: 64 << 10, IOBuffer: 3 * raRecord, Granularity: PerItem, Dir: t.TempDir()})
		stageEach(t, b, 20+4*lookAhead, 20, 21, 22) // 276 at 0, then 20, 21, 22
		if n := reads(t, b, 22); n != 1 {
			t.Fatalf("%d reads delivering 20 to 22; a window from 20's record holds all three", n)
		}
		deliverThrough(t, b, 20+4*lookAhead)
	})
}

// The window counts, and is kept for, the records it holds whole: a record
// it holds only the start of going does not release it.
func TestReadAheadWindowCountsOnlyWholeRecords(t *testing.T) {
	b := newStaged(t, Policy{Threshold: 64 << 10, IOBuffer: 3*raRecord + 60, Granularity: PerItem, Dir: t.TempDir()})
	stageEach(t, b, 20, 21, 23, 22) // 22 at 378, past the window's end at 438
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	deliverThrough(t, b, 20) // one read: 20, 21 and 23 whole, the start of 22
	insertAll(t, b, 100, 22) // 22 again: its record goes
	deliverThrough(t, b, 23) // 21 and 23 from the window
	if s := b.Stats(); s.ReadCalls != 1 {
		t.Fatalf("%d reads delivering 20 to 23; the window held 21 and 23 and must stay for them", s.ReadCalls)
	}
}

// After a record larger than keepScratch is made and read back, the buffer
// keeps none of the scratch space that took: MemoryUsed counts only what is
// in use, and memory held past it would go unreported.
func TestLargeScratchIsNotKept(t *testing.T) {
	const size = 64 << 10
	b := newStaged(t, Policy{Threshold: 8 << 20, IOBuffer: 4 << 20, Granularity: Batch, Dir: t.TempDir()})
	insertAll(t, b, size, seqRange(20, 40)...)
	th := b.threshold
	squeeze(b, b.stage)
	if err := b.evict(false); err != nil { // one record of 20 items, 1.25 MiB
		t.Fatal(err)
	}
	squeeze(b, th)
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	insertAll(t, b, size, seqRange(0, 20)...)
	drainExpect(t, b, size, 0, 40) // the record read back in one window
	if s := b.Stats(); s.ReloadEvents != 1 || s.BytesRead <= keepScratch {
		t.Fatalf("%d reloads of %d bytes; the test needs one record over %d bytes", s.ReloadEvents, s.BytesRead, keepScratch)
	}
	for name, c := range map[string]int{
		"read-ahead": cap(b.ra), "item": cap(b.item), "record": cap(b.rec), "compressed record": cap(b.zrec),
		"payload": cap(b.payload), "inflated payload": cap(b.inflate),
	} {
		if c > keepScratch {
			t.Errorf("%s scratch of %d bytes kept, over the %d bytes a buffer keeps", name, c, keepScratch)
		}
	}
}
