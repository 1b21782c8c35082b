package spill

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestPropertyDeliversEverythingOnceWithinBudget runs random workloads
// through random policies. Every run must deliver 0..n-1 exactly once,
// byte-identical, and after every insert memory must be within threshold +
// hot zone + one item.
func TestPropertyDeliversEverythingOnceWithinBudget(t *testing.T) {
	runs := 300
	if testing.Short() {
		runs = 50
	}
	for run := range runs {
		seed := uint64(run)
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			propertyRun(t, seed)
		})
	}
}

func propertyRun(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	n := 1 + r.IntN(400)
	maxSize := 1 + r.IntN(600)
	p := Policy{
		Threshold:   int64(1 + r.IntN(8*maxSize)),
		Granularity: Granularity(r.IntN(2)),
		Reclaim:     Reclaim(r.IntN(2)),
	}
	if r.IntN(2) == 0 {
		p.Compression = Compression{Method: Zstd, Level: 1 + r.IntN(22)}
	}
	if r.IntN(2) == 0 {
		p.Dir = t.TempDir()
	}
	capacity := 1 + r.IntN(n+8)
	b, err := New(capacity, Bytes{}, p)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	items := make([][]byte, n)
	for i := range items {
		items[i] = make([]byte, r.IntN(maxSize+1))
		// Half compressible, half noise.
		for j := range items[i] {
			if i%2 == 0 {
				items[i][j] = byte(j % 13)
			} else {
				items[i][j] = byte(r.Uint32())
			}
		}
	}
	// Arrival order: mostly forward with local drift, plus a late head.
	order := r.Perm(n)
	if r.IntN(2) == 0 {
		for i := range order {
			order[i] = i
		}
		for i := range order {
			j := min(n-1, i+r.IntN(9))
			order[i], order[j] = order[j], order[i]
		}
		// One item, anywhere, arrives last.
		at := r.IntN(n)
		late := order[at]
		order = append(append(order[:at:at], order[at+1:]...), late)
	}

	var got [][]byte
	deliver := func() {
		out, err := b.DrainReady(nil)
		if err != nil {
			t.Fatalf("%v: DrainReady: %v", p, err)
		}
		got = append(got, out...)
	}
	for _, i := range order {
		seq := uint64(i)
		err := b.Insert(seq, items[i])
		if errors.Is(err, ErrCapacity) {
			// The pipeline's back-pressure rule: drain, then force.
			deliver()
			err = b.ForceInsert(seq, items[i])
		}
		if err != nil {
			t.Fatalf("%v: insert %d: %v", p, seq, err)
		}
		hot := 0
		for s := b.NextExpected(); s < b.NextExpected()+hotZoneMax; s++ {
			if v, ok := peek(b, s); ok {
				hot += len(v)
			}
		}
		if bound := p.Threshold + int64(hot) + int64(maxSize); b.Stats().MemoryUsed > bound {
			t.Fatalf("%v: %d bytes in memory after inserting %d, bound %d", p, b.Stats().MemoryUsed, seq, bound)
		}
		if r.IntN(4) == 0 {
			deliver()
		}
	}
	deliver()
	if len(got) != n {
		t.Fatalf("%v: delivered %d of %d items", p, len(got), n)
	}
	for i := range got {
		if !bytes.Equal(got[i], items[i]) {
			t.Fatalf("%v: item %d differs", p, i)
		}
	}
	if s := b.Stats(); s.MemoryUsed != 0 || s.SpilledItems != 0 || b.Len() != 0 {
		t.Fatalf("%v: after delivering everything: %+v, Len %d", p, s, b.Len())
	}
}

// peek returns the in-memory item under seq without removing it.
func peek(b *Buffer[[]byte], seq uint64) ([]byte, bool) {
	r := b.ring
	if seq < r.next || seq-r.next >= uint64(len(r.slots)) {
		return nil, false
	}
	s := r.slots[r.index(seq-r.next)]
	return s.v.v, s.ok
}
