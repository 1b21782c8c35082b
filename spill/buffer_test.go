package spill

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// spilledSeqs returns the spilled sequence numbers, ascending.
func spilledSeqs(b *Buffer[[]byte]) []uint64 {
	var s []uint64
	for _, slot := range b.index.slots {
		if slot.ok {
			s = append(s, slot.seq)
		}
	}
	slices.Sort(s)
	return s
}

func TestUnderBudgetNeverTouchesDisk(t *testing.T) {
	ffs := newFaultFS(nil)
	b := newBuffer(t, 64, Policy{Threshold: 1 << 20, Dir: t.TempDir(), FS: ffs})
	insertAll(t, b, 100, 5, 3, 1, 4, 2, 0)
	drainExpect(t, b, 100, 0, 6)
	if n := ffs.total() - ffs.count(SiteDirCreate); n != 0 {
		t.Fatalf("%d filesystem calls besides dir.create under budget: %v", n, ffs.calls)
	}
	if s := b.Stats(); s.SpillEvents != 0 || s.MemoryUsed != 0 || s.PeakMemory != 600 {
		t.Fatalf("stats %+v, want no spills, 0 bytes now, peak 600", s)
	}
}

func TestEvictsFurthestFromDeliveryFirst(t *testing.T) {
	b := newBuffer(t, 64, Policy{Threshold: 1000, Granularity: PerItem})
	// Seq 0 is late: 1..30 pile up, 100 bytes each, ten fit the budget.
	insertAll(t, b, 100, seqRange(1, 31)...)
	if got, want := spilledSeqs(b), seqRange(11, 31); !slices.Equal(got, want) {
		t.Fatalf("spilled %v, want the twenty highest %v", got, want)
	}
	if s := b.Stats(); s.MemoryUsed != 1000 || s.SpillEvents != 20 {
		t.Fatalf("memory %d, %d records; want 1000 bytes and 20 per-item records", s.MemoryUsed, s.SpillEvents)
	}
	insertAll(t, b, 100, 0)
	drainExpect(t, b, 100, 0, 31)
}

func TestHotZoneIsNeverEvicted(t *testing.T) {
	for _, n := range []int{1, 2, 3, 10, 31, 32, 33, 100} {
		for _, g := range []Granularity{Batch, PerItem} {
			b := newBuffer(t, 256, Policy{Threshold: 1 << 30, Granularity: g})
			// Seq 0 is late; 1..n are buffered.
			insertAll(t, b, 10, seqRange(1, uint64(n)+1)...)
			squeeze(b, 1) // everything that may go goes
			if err := b.evict(false); err != nil {
				t.Fatalf("n=%d %s: evict: %v", n, g, err)
			}
			hot := max(min(16, n/2), 1)
			for seq := uint64(1); seq <= uint64(n); seq++ {
				_, spilled := b.index.get(seq)
				if inZone := seq < uint64(hot); spilled == inZone {
					t.Fatalf("n=%d %s: seq %d spilled=%t, hot zone is seq < %d", n, g, seq, spilled, hot)
				}
			}
		}
	}
}

func TestPerItemStopsOnceUnderBudget(t *testing.T) {
	b := newBuffer(t, 64, Policy{Threshold: 1000, Granularity: PerItem})
	insertAll(t, b, 100, seqRange(1, 11)...) // exactly at budget
	if s := b.Stats(); s.SpillEvents != 0 {
		t.Fatalf("spilled at the budget, not over it: %+v", s)
	}
	insertAll(t, b, 100, 11)
	if s := b.Stats(); s.SpillEvents != 1 || s.Activations != 1 || s.MemoryUsed != 1000 {
		t.Fatalf("one item over budget: %d records, %d activations, %d bytes; want 1, 1, 1000",
			s.SpillEvents, s.Activations, s.MemoryUsed)
	}
}

func TestBatchEvictsEverythingButTheHotZone(t *testing.T) {
	b := newBuffer(t, 64, Policy{Threshold: 1000, Granularity: Batch})
	insertAll(t, b, 100, seqRange(1, 12)...) // 11 items, one over budget
	s := b.Stats()
	if s.SpillEvents != 1 || s.Activations != 1 {
		t.Fatalf("%d records, %d activations; want one record for the whole batch", s.SpillEvents, s.Activations)
	}
	// 11 buffered: hot zone min(16, 11/2) = 5 covers seq 0..4, so 1..4 stay.
	if got, want := spilledSeqs(b), seqRange(5, 12); !slices.Equal(got, want) {
		t.Fatalf("spilled %v, want %v", got, want)
	}
	if s.MemoryUsed != 400 {
		t.Fatalf("memory %d after the batch, want the 4 hot items (400)", s.MemoryUsed)
	}
	insertAll(t, b, 100, 0)
	drainExpect(t, b, 100, 0, 12)
	if s := b.Stats(); s.ReloadEvents != 1 {
		t.Fatalf("%d reloads, want 1: the batch comes back as a unit", s.ReloadEvents)
	}
}

func TestBatchPastMaxRecordSizeSplits(t *testing.T) {
	b := newBuffer(t, 64, Policy{Threshold: 1 << 30, Dir: t.TempDir()})
	// 1..9 buffered: the hot zone keeps 1..3, and 4..9 (96 MiB) must go
	// out as two records under MaxRecordSize (64 MiB).
	const size = 16 << 20
	insertAll(t, b, size, seqRange(1, 10)...)
	squeeze(b, 1)
	if err := b.evict(false); err != nil {
		t.Fatal(err)
	}
	s := b.Stats()
	if s.Activations != 1 || s.SpillEvents != 2 {
		t.Fatalf("%d records in %d activations; want one batch split into 2 records", s.SpillEvents, s.Activations)
	}
	for _, r := range b.recs.recs {
		if r.size-headerSize > MaxRecordSize {
			t.Fatalf("record at %d holds %d payload bytes, limit %d", r.off, r.size-headerSize, MaxRecordSize)
		}
	}
	squeeze(b, 1<<30)
	insertAll(t, b, size, 0)
	drainExpect(t, b, size, 0, 10)
}

// recordTags returns the codec tag of every live record, by offset.
func recordTags(t *testing.T, b *Buffer[[]byte]) map[int64]byte {
	t.Helper()
	tags := map[int64]byte{}
	for _, r := range b.recs.recs {
		off := r.off
		var h [headerSize]byte
		if _, err := b.file.ReadAt("test", h[:], off); err != nil {
			t.Fatalf("reading header at %d: %v", off, err)
		}
		tags[off] = h[4]
	}
	return tags
}

func TestCompression(t *testing.T) {
	zstd := Compression{Method: Zstd, Level: 3}
	random := func(seq uint64, n int) []byte {
		b := make([]byte, n)
		r := rand.New(rand.NewPCG(seq, 7))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	zeros := func(_ uint64, n int) []byte { return make([]byte, n) }
	for _, tc := range []struct {
		name    string
		comp    Compression
		gran    Granularity
		item    func(uint64, int) []byte
		size    int
		wantTag byte
	}{
		{"zstd shrinks repetitive records", zstd, Batch, payload, 200, tagZstd},
		{"zstd skips records under 64 bytes", zstd, PerItem, payload, 37, tagRaw},
		// A per-item record of seq < 128 frames its item in 2 bytes.
		{"zstd skips 63 bytes however compressible", zstd, PerItem, zeros, 61, tagRaw},
		{"zstd takes 64 bytes", zstd, PerItem, zeros, 62, tagZstd},
		{"zstd keeps incompressible records raw", zstd, PerItem, random, 500, tagRaw},
		{"none stores raw", Compression{}, Batch, payload, 200, tagRaw},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuffer(t, 64, Policy{Threshold: 1000, Granularity: tc.gran, Compression: tc.comp})
			for seq := uint64(1); seq < 40; seq++ {
				if err := b.Insert(seq, tc.item(seq, tc.size)); err != nil {
					t.Fatal(err)
				}
			}
			tags := recordTags(t, b)
			if len(tags) == 0 {
				t.Fatal("nothing spilled")
			}
			for off, tag := range tags {
				if tag != tc.wantTag {
					t.Fatalf("record at %d has tag %d, want %d", off, tag, tc.wantTag)
				}
			}
			s := b.Stats()
			stored := s.BytesWritten - headerSize*s.SpillEvents
			if shrunk := stored < s.PayloadBytes; shrunk != (tc.wantTag == tagZstd) {
				t.Fatalf("stored %d bytes for %d payload bytes", stored, s.PayloadBytes)
			}
			if err := b.Insert(0, tc.item(0, tc.size)); err != nil {
				t.Fatal(err)
			}
			got, err := b.DrainReady(nil)
			if err != nil || len(got) != 40 {
				t.Fatalf("drained %d items, err %v; want 40", len(got), err)
			}
			for i, v := range got {
				if string(v) != string(tc.item(uint64(i), tc.size)) {
					t.Fatalf("item %d differs after the round trip", i)
				}
			}
		})
	}
}

func TestReclaim(t *testing.T) {
	// Seq 0 is late. 1..11 overflow the 1000-byte budget and 5..11 go to
	// disk in one record (1..4 are the hot zone); 12..16 arrive; then 0.
	// Delivering 0..4 leaves 12..16 (500 bytes) in memory, and delivering 5
	// reloads the 700-byte record on top of them.
	run := func(r Reclaim) Stats {
		b := newBuffer(t, 128, Policy{Threshold: 1000, Reclaim: r})
		insertAll(t, b, 100, seqRange(1, 17)...)
		insertAll(t, b, 100, 0)
		for seq := uint64(0); seq <= 5; seq++ {
			v, ok, err := b.Next()
			if err != nil || !ok || string(v) != string(payload(seq, 100)) {
				t.Fatalf("%s: Next at %d: ok %t, err %v", r, seq, ok, err)
			}
		}
		if b.Stats().ReloadEvents != 1 {
			t.Fatalf("%s: %d reloads delivering 0..5, want 1", r, b.Stats().ReloadEvents)
		}
		s := b.Stats()
		drainExpect(t, b, 100, 6, 17)
		return s
	}
	keep, respill := run(Keep), run(RespillAfterRead)
	if keep.MemoryUsed != 1100 {
		t.Fatalf("keep: %d bytes in memory after the reload, want all of 6..16 (1100)", keep.MemoryUsed)
	}
	if respill.MemoryUsed > respill.Threshold {
		t.Fatalf("respill: %d bytes in memory after the reload, over the %d budget", respill.MemoryUsed, respill.Threshold)
	}
	if respill.SpillEvents != keep.SpillEvents+1 {
		t.Fatalf("respill wrote %d records, keep %d: respill must write once more", respill.SpillEvents, keep.SpillEvents)
	}
}

func TestRSSTriggerForcesAnItemOut(t *testing.T) {
	rss := int64(2 << 30)
	var probeErr error
	b := newBuffer(t, 64, Policy{Threshold: 1 << 30, RSSLimit: 1 << 30, Granularity: PerItem})
	b.rss = func() (int64, error) { return rss, probeErr }

	insertAll(t, b, 100, 1, 2, 3)
	// The hot zone is seq 0 alone, so each insert pushes its item out.
	if s := b.Stats(); s.SpillEvents != 3 || s.SpilledItems != 3 || s.MemoryUsed != 0 {
		t.Fatalf("under the byte budget with RSS over its limit: %+v; want one item out per insert", s)
	}

	rss = 1 << 30 // at the limit, not over it
	insertAll(t, b, 100, 4)
	probeErr = errors.New("no /proc")
	rss = 2 << 30
	insertAll(t, b, 100, 5)
	if s := b.Stats(); s.SpillEvents != 3 {
		t.Fatalf("RSS at the limit or unreadable still spilled: %+v", s)
	}

	// Without an RSS limit the RSS is never read, not even when the byte
	// budget evicts.
	nb := newBuffer(t, 64, Policy{Threshold: 500, Granularity: PerItem})
	nb.rss = func() (int64, error) { t.Error("RSS read without an RSS limit"); return 2 << 30, nil }
	insertAll(t, nb, 100, seqRange(1, 20)...)
	if nb.Stats().SpillEvents == 0 {
		t.Fatal("nothing spilled; the test needs the byte budget to evict")
	}
}

func TestReadStatm(t *testing.T) {
	// Skip only where there is no statm to read: a statm the parser
	// refuses is a failure, not a reason to skip.
	if _, err := os.ReadFile("/proc/self/statm"); err != nil {
		t.Skipf("no /proc/self/statm here: %v", err)
	}
	n, err := readStatm()
	if err != nil || n <= 0 {
		t.Fatalf("RSS %d bytes, %v; want positive", n, err)
	}
	for _, bad := range []string{"", "123", "1 x 3", "1 -4 3"} {
		if _, err := parseStatm([]byte(bad), 4096); err == nil {
			t.Errorf("parseStatm(%q) accepted it", bad)
		}
	}
	for in, want := range map[string]int64{"1000 25 7 1 0 20 0\n": 25 * 4096, "1 25": 25 * 4096, "1 0": 0} {
		if n, err := parseStatm([]byte(in), 4096); err != nil || n != want {
			t.Errorf("parseStatm(%q) = %d, %v; want %d (two fields suffice; no pages is a count)", in, n, err, want)
		}
	}
}

func TestRSSCacheRereadsAfterTTL(t *testing.T) {
	now := int64(0)
	reads := 0
	c := &rssCache{
		ttl:  rssTTL,
		now:  func() time.Time { return time.Unix(0, now) },
		read: func() (int64, error) { reads++; return int64(reads), nil },
	}
	// Policy.RSSLimit promises at most one read every 100 ms.
	if processRSS.ttl < 100*time.Millisecond {
		t.Fatalf("the process RSS is cached for %v, not the documented 100ms", processRSS.ttl)
	}
	c.get()
	now += int64(rssTTL) - 1
	if v, _ := c.get(); v != 1 || reads != 1 {
		t.Fatalf("within the TTL: value %d after %d reads, want the cached 1", v, reads)
	}
	now += 1
	if v, _ := c.get(); v != 2 {
		t.Fatalf("at the TTL: value %d, want a fresh read", v)
	}
}

func TestInMemoryOnlyNeverTouchesDisk(t *testing.T) {
	ffs := newFaultFS(nil)
	b := newBuffer(t, 64, Policy{Threshold: 500, InMemoryOnly: true, Dir: filepath.Join(t.TempDir(), "never"), FS: ffs})
	insertAll(t, b, 100, 1, 2, 3, 4, 5)
	err := b.Insert(6, payload(6, 100))
	if !errors.Is(err, ErrSpillDisabled) {
		t.Fatalf("Insert over budget: %v, want ErrSpillDisabled", err)
	}
	if b.Len() != 6 {
		t.Fatalf("Len = %d, the refused spill must keep the item", b.Len())
	}
	if err := b.Insert(0, payload(0, 100)); !errors.Is(err, ErrSpillDisabled) {
		t.Fatalf("Insert of seq 0 over budget: %v, want ErrSpillDisabled", err)
	}
	drainExpect(t, b, 100, 0, 7)
	if n := ffs.total(); n != 0 {
		t.Fatalf("%d filesystem calls in in-memory-only mode: %v", n, ffs.calls)
	}
	if _, err := os.Stat(b.policy.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("in-memory-only created its directory: %v", err)
	}
}

func TestFileDoesNotGrowWithTheTotalSpilled(t *testing.T) {
	b := newBuffer(t, 8192, Policy{Threshold: 250, Granularity: PerItem})
	// A straggler far ahead is spilled first and stays on disk all along.
	insertAll(t, b, 100, 5000, 1, 2)
	if _, ok := b.index.get(5000); !ok {
		t.Fatal("the straggler was not spilled")
	}
	// Then blocks of four arrive last-but-one first: each block spills one
	// record and reloads it.
	maxPos := int64(0)
	for base := uint64(4); base < 4000; base += 4 {
		insertAll(t, b, 100, base, base+1, base+2)
		if base == 4 {
			insertAll(t, b, 100, 0, 3)
		} else {
			insertAll(t, b, 100, base-1)
		}
		if _, err := b.DrainReady(nil); err != nil {
			t.Fatal(err)
		}
		maxPos = max(maxPos, b.end)
	}
	if s := b.Stats(); s.SpillEvents < 500 {
		t.Fatalf("only %d records written; the test needs churn", s.SpillEvents)
	}
	if maxPos > 1000 {
		t.Fatalf("write cursor reached %d bytes with at most a few records live", maxPos)
	}
}

func TestItemTooLargeForARecordStaysAndTheRestGoes(t *testing.T) {
	for _, g := range []Granularity{Batch, PerItem} {
		t.Run(g.String(), func(t *testing.T) {
			b := newBuffer(t, 64, Policy{Threshold: 1 << 30, Granularity: g})
			insertAll(t, b, 1000, seqRange(1, 30)...)
			huge := payload(40, MaxRecordSize+1)
			if err := b.Insert(40, huge); err != nil {
				t.Fatal(err)
			}
			squeeze(b, 1000)
			err := b.evict(false)
			if !errors.Is(err, ErrRecordTooLarge) {
				t.Fatalf("evict: %v, want ErrRecordTooLarge (memory stays over budget)", err)
			}
			if _, spilled := b.index.get(40); spilled {
				t.Fatal("the oversized item was spilled")
			}
			if _, spilled := b.index.get(29); !spilled {
				t.Fatal("the items below the oversized one were not spilled")
			}
			// The next eviction still sees the oversized item, and says
			// again why memory stays over budget.
			if err := b.Insert(35, payload(35, 1000)); !errors.Is(err, ErrRecordTooLarge) {
				t.Fatalf("Insert over budget after the first eviction: %v, want ErrRecordTooLarge again", err)
			}
			if _, spilled := b.index.get(35); !spilled {
				t.Fatal("the item inserted below the oversized one was not spilled")
			}
			squeeze(b, 1<<30)
			insertAll(t, b, 1000, 0)
			got, err := b.DrainReady(nil)
			if err != nil || len(got) != 30 {
				t.Fatalf("drained %d, %v; want 0..29", len(got), err)
			}
		})
	}
}

// An oversized item that stays in memory is no error when the eviction
// brings memory within the budget all the same, to the byte.
func TestItemTooLargeButWithinBudgetIsNoError(t *testing.T) {
	const huge = MaxRecordSize + 1
	b := newBuffer(t, 64, Policy{Threshold: 1 << 30, Granularity: PerItem})
	insertAll(t, b, 100, 1, 2, 3)
	if err := b.Insert(4, make([]byte, huge)); err != nil {
		t.Fatal(err)
	}
	// Four items: the hot zone is 0 and 1; 2, 3 and 4 may go. 4 cannot,
	// and without 3 and 2 memory is exactly the budget.
	squeeze(b, huge+100)
	if err := b.evict(false); err != nil {
		t.Fatalf("evict: %v; memory is within the budget without the oversized item", err)
	}
	if s := b.Stats(); s.SpilledItems != 2 || s.MemoryUsed != b.threshold {
		t.Fatalf("%d items spilled, %d bytes in memory; want 2 and the budget, %d", s.SpilledItems, s.MemoryUsed, b.threshold)
	}
}

// A record may hold exactly MaxRecordSize bytes of raw payload: an item
// that makes a record that size on its own is spilled, and a batch whose
// items add up to it is one record.
func TestRecordOfExactlyMaxRecordSize(t *testing.T) {
	// An entry is uvarint(seq), uvarint(len), then the item: 5 bytes of
	// framing for a seq under 128 and an item of 2 MiB or more.
	const framing = 5
	for _, tc := range []struct {
		name      string
		g         Granularity
		sizes     []int
		roundTrip bool // read it back too (once is enough: it is slow under -race)
	}{
		{"per-item", PerItem, []int{MaxRecordSize - framing}, false},
		{"batch/one item", Batch, []int{MaxRecordSize - framing}, false},
		{"batch/two items", Batch, []int{MaxRecordSize/2 - framing, MaxRecordSize/2 - framing}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuffer(t, 64, Policy{Threshold: 1 << 30, Granularity: tc.g, Dir: t.TempDir()})
			item := func(seq uint64) []byte { return bytes.Repeat([]byte{byte(seq)}, tc.sizes[seq-1]) }
			for i := range tc.sizes {
				seq := uint64(i + 1)
				if err := b.Insert(seq, item(seq)); err != nil {
					t.Fatal(err)
				}
			}
			squeeze(b, 1) // everything above seq 0 goes
			if err := b.evict(false); err != nil {
				t.Fatalf("evict: %v", err)
			}
			s := b.Stats()
			if s.SpilledItems != len(tc.sizes) || s.SpillEvents != 1 || s.PayloadBytes != MaxRecordSize {
				t.Fatalf("%d items in %d records of %d payload bytes; want all %d in one record of %d",
					s.SpilledItems, s.SpillEvents, s.PayloadBytes, len(tc.sizes), MaxRecordSize)
			}
			if !tc.roundTrip {
				return
			}
			squeeze(b, 1<<30)
			if err := b.Insert(0, []byte{0}); err != nil {
				t.Fatal(err)
			}
			got, err := b.DrainReady(nil)
			if err != nil || len(got) != len(tc.sizes)+1 {
				t.Fatalf("drained %d items, %v; want %d", len(got), err, len(tc.sizes)+1)
			}
			for i, v := range got[1:] {
				if !bytes.Equal(v, item(uint64(i+1))) {
					t.Fatalf("item %d differs after the round trip", i+1)
				}
			}
		})
	}
}

// Inserting a sequence number again replaces its item, also when the
// first one is on disk: the spilled copy is dropped, the item counts once,
// and the new one is what is delivered.
func TestReinsertSupersedesTheSpilledCopy(t *testing.T) {
	for _, g := range []Granularity{Batch, PerItem} {
		t.Run(g.String(), func(t *testing.T) {
			b := newBuffer(t, 64, Policy{Threshold: 1000, Granularity: g, Dir: t.TempDir()})
			insertAll(t, b, 100, seqRange(1, 12)...) // 1100 bytes: 11 and more go to disk
			if _, ok := b.index.get(11); !ok {
				t.Fatal("seq 11 was not spilled; the test needs it on disk")
			}
			newer := []byte("seq 11, inserted again")
			if err := b.Insert(11, newer); err != nil {
				t.Fatal(err)
			}
			if b.Len() != 11 {
				t.Fatalf("Len %d after inserting 1..11 and 11 again, want 11: the spilled copy of 11 must go", b.Len())
			}
			// Per item, a record goes with its one item.
			if s := b.Stats(); g == PerItem && s.SpilledRecords != s.SpilledItems {
				t.Fatalf("%d records for %d spilled items, one each", s.SpilledRecords, s.SpilledItems)
			}
			insertAll(t, b, 100, 0)
			got, err := b.DrainReady(nil)
			if err != nil || len(got) != 12 {
				t.Fatalf("drained %d items, %v; want 12", len(got), err)
			}
			for i, v := range got {
				want := payload(uint64(i), 100)
				if i == 11 {
					want = newer
				}
				if !bytes.Equal(v, want) {
					t.Fatalf("item %d is %q..., want %q...", i, v[:min(8, len(v))], want[:min(8, len(want))])
				}
			}
		})
	}
}
