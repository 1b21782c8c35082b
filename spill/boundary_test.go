package spill

import (
	"bytes"
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
