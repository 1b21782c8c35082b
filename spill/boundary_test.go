package spill

import (
	"bytes"
	"errors"
	"testing"
)

// The budget is inclusive: items filling their share exactly stay in
// memory; one byte more spills. With an RSS trigger set (far above what
// the test uses) every insert checks the budget, so the boundary is the
// budget's own. (gremlins' < for <= in enforceBudget lived without this.)
func TestBudgetIsInclusive(t *testing.T) {
	for _, rss := range []int64{0, 1 << 62} {
		budgetIsInclusive(t, Policy{Threshold: 1 << 10, Dir: t.TempDir(), RSSLimit: rss})
	}
}

func budgetIsInclusive(t *testing.T, p Policy) {
	t.Helper()
	b := newBuffer(t, 1024, p)
	limit := b.itemLimit
	if limit <= 0 || limit%8 != 0 {
		t.Fatalf("item limit %d: the test needs a positive multiple of 8", limit)
	}
	// Sequence numbers from 1: nothing is deliverable while 0 is missing.
	n := int(limit / 8)
	for i := 1; i <= n; i++ {
		if err := b.Insert(uint64(i), bytes.Repeat([]byte{byte(i)}, 8)); err != nil {
			t.Fatal(err)
		}
	}
	if st := b.Stats(); st.SpillEvents != 0 || b.items != limit {
		t.Fatalf("items filling the budget exactly (%d of %d bytes) spilled: %+v", b.items, limit, st)
	}
	if err := b.Insert(uint64(n+1), []byte{1}); err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.SpillEvents == 0 || b.items > limit {
		t.Fatalf("one byte over the budget did not spill: %d of %d bytes in memory, %+v", b.items, limit, st)
	}
}

// The record table's counts at their edges: a record ending exactly at
// the offset counts as below it and within a range ending there; one
// starting at the truncation offset goes; the live count follows.
func TestRecordTableEdges(t *testing.T) {
	var tab recordTable
	tab.add(0, 100, 2)   // [0, 100)
	tab.add(100, 50, 0)  // [100, 150), a tombstone
	tab.add(150, 50, 3)  // [150, 200)
	tab.add(200, 100, 1) // [200, 300)
	tab.live = 3
	if r, i := tab.below(200); r != 2 || i != 5 {
		t.Errorf("below(200) = %d records, %d items; want the two live ones ending at or before 200: 2, 5", r, i)
	}
	if r, _ := tab.below(199); r != 1 {
		t.Errorf("below(199) = %d records, want 1", r)
	}
	if n := tab.within(150, 300); n != 2 {
		t.Errorf("within(150, 300) = %d, want 2 (both end at or before 300)", n)
	}
	if n := tab.within(150, 299); n != 1 {
		t.Errorf("within(150, 299) = %d, want 1", n)
	}
	tab.truncate(150)
	if len(tab.recs) != 2 || tab.live != 1 || tab.end() != 150 {
		t.Errorf("after truncate(150): %d records, %d live, end %d; want the two below 150, 1 live, end 150", len(tab.recs), tab.live, tab.end())
	}
}

// An IOError says where in the file it struck only when it struck in the
// file (offset 0 included), and how many staged items it kept in memory
// only when it kept some.
func TestIOErrorMessage(t *testing.T) {
	cause := errors.New("boom")
	for _, tc := range []struct {
		e    IOError
		want string
	}{
		{IOError{Site: SiteBatchWrite, Path: "/s", Offset: 0, Err: cause}, "spill batch.write /s at offset 0: boom"},
		{IOError{Site: SiteBatchWrite, Path: "/s", Offset: 4096, Err: cause, Items: 1}, "spill batch.write /s at offset 4096: boom (1 staged items kept in memory)"},
		{IOError{Site: SiteDirCreate, Path: "/s", Offset: -1, Err: cause}, "spill dir.create /s: boom"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got %q\nwant %q", got, tc.want)
		}
	}
}
