package spill

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// refModel is a plain model of the reference implementation's rules
// (oc-rsync's SpillableReorderBuffer), written from its behaviour, not from
// this package's code: what is in memory, what is on disk in which record,
// and the counters the two must agree on.
//
//   - Memory counts the items in memory only. After an insert that puts it
//     over the threshold, the buffer spills: candidates are the buffered
//     items at or above the cursor plus a hot zone of min(16, buffered/2)
//     (at least 1) sequence numbers, highest first. Per-item spills one
//     record per candidate until memory is within the threshold; batch
//     spills every candidate in one record.
//   - Delivery takes the item due from memory, or else reloads its record
//     (every item of it still live comes back into memory), delivers it,
//     and then, under respill-after-read and only while memory is over the
//     threshold, spills again, with the hot zone above the new cursor.
type refModel struct {
	threshold int64
	perItem   bool
	respill   bool

	next    uint64
	mem     int64
	inMem   map[uint64]int64 // seq -> size
	onDisk  map[uint64]int   // seq -> record
	records map[int][]uint64 // record -> its live seqs
	sizes   map[uint64]int64 // seq -> size, for items on disk
	nextRec int

	spillEvents, reloads, activations int64
}

func newRefModel(threshold int64, g Granularity, r Reclaim) *refModel {
	return &refModel{threshold: threshold, perItem: g == PerItem, respill: r == RespillAfterRead,
		inMem: map[uint64]int64{}, onDisk: map[uint64]int{}, records: map[int][]uint64{}, sizes: map[uint64]int64{}}
}

func (m *refModel) insert(seq uint64, size int64) {
	m.inMem[seq] = size
	m.mem += size
	if rec, ok := m.onDisk[seq]; ok { // a stale spilled copy goes
		delete(m.onDisk, seq)
		m.records[rec] = slices.DeleteFunc(m.records[rec], func(s uint64) bool { return s == seq })
	}
	if m.mem > m.threshold {
		m.spill()
	}
}

func (m *refModel) spill() {
	count := len(m.inMem)
	if count == 0 {
		return
	}
	hot := uint64(max(min(16, count/2), 1))
	var cands []uint64
	for seq := range m.inMem {
		if seq >= m.next+hot {
			cands = append(cands, seq)
		}
	}
	slices.Sort(cands)
	slices.Reverse(cands)
	wrote := false
	if m.perItem {
		for _, seq := range cands {
			if m.mem <= m.threshold {
				break
			}
			m.toDisk([]uint64{seq})
			wrote = true
		}
	} else if len(cands) > 0 {
		m.toDisk(cands)
		wrote = true
	}
	if wrote {
		m.activations++
	}
}

func (m *refModel) toDisk(seqs []uint64) {
	rec := m.nextRec
	m.nextRec++
	for _, seq := range seqs {
		m.sizes[seq] = m.inMem[seq]
		m.mem -= m.inMem[seq]
		delete(m.inMem, seq)
		m.onDisk[seq] = rec
	}
	m.records[rec] = slices.Clone(seqs)
	m.spillEvents++
}

// deliver returns the item due, if it is buffered.
func (m *refModel) deliver() (uint64, bool) {
	if size, ok := m.inMem[m.next]; ok {
		delete(m.inMem, m.next)
		m.mem -= size
		m.next++
		return m.next - 1, true
	}
	rec, ok := m.onDisk[m.next]
	if !ok {
		return 0, false
	}
	for _, seq := range m.records[rec] {
		delete(m.onDisk, seq)
		m.inMem[seq] = m.sizes[seq]
		m.mem += m.sizes[seq]
	}
	delete(m.records, rec)
	m.reloads++
	seq := m.next
	m.mem -= m.inMem[seq]
	delete(m.inMem, seq)
	m.next++
	if m.respill && m.mem > m.threshold {
		m.spill()
	}
	return seq, true
}

// TestRespillMatchesTheReferenceModel replays random schedules against
// the model, for every granularity and reclaim mode, with and without
// staging: the items delivered, the records written, reloads, activations
// and the memory the items hold must agree after every step. With staging
// the model's threshold is the items' share of the budget.
func TestRespillMatchesTheReferenceModel(t *testing.T) {
	const schedules = 1000
	for _, g := range []Granularity{Batch, PerItem} {
		for _, rc := range []Reclaim{Keep, RespillAfterRead} {
			for _, staged := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/staged=%t", g, rc, staged), func(t *testing.T) {
					for i := range schedules {
						replaySchedule(t, uint64(i), g, rc, staged)
						if t.Failed() {
							return
						}
					}
				})
			}
		}
	}
}

func replaySchedule(t *testing.T, seed uint64, g Granularity, rc Reclaim, staged bool) {
	r := rand.New(rand.NewPCG(seed, 0x30de1))
	n := 2 + r.IntN(60)
	p := Policy{Threshold: 60 + int64(r.IntN(2000)), Granularity: g, Reclaim: rc, IOBuffer: -1}
	if staged {
		p.IOBuffer = 0
	}
	b, err := New(4*n, Bytes{}, p)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m := newRefModel(b.itemLimit, g, rc)
	order := r.Perm(n)
	sizes := make([]int, n)
	for i := range sizes {
		sizes[i] = 1 + r.IntN(200)
	}
	var got, want []uint64
	check := func(step string) {
		t.Helper()
		s := b.Stats()
		if s.SpillEvents != m.spillEvents || s.ReloadEvents != m.reloads || s.Activations != m.activations || b.items != m.mem || !slices.Equal(got, want) {
			t.Errorf("seed %d (%v, n=%d, items' limit %d), after %s: buffer %d records, %d reloads, %d activations, %d bytes of items, delivered %v; reference %d, %d, %d, %d bytes, delivered %v",
				seed, p, n, b.itemLimit, step, s.SpillEvents, s.ReloadEvents, s.Activations, b.items, got, m.spillEvents, m.reloads, m.activations, m.mem, want)
		}
	}
	drain := func() {
		for {
			v, ok, err := b.Next()
			if err != nil {
				t.Fatalf("seed %d: Next: %v", seed, err)
			}
			if !ok {
				break
			}
			got = append(got, uint64(v[0])|uint64(v[1])<<8)
		}
		for {
			seq, ok := m.deliver()
			if !ok {
				break
			}
			want = append(want, seq)
		}
	}
	for _, i := range order {
		seq := uint64(i)
		v := make([]byte, max(2, sizes[i]))
		v[0], v[1] = byte(seq), byte(seq>>8)
		if err := b.Insert(seq, v); err != nil {
			t.Fatalf("seed %d: Insert(%d): %v", seed, seq, err)
		}
		m.insert(seq, int64(len(v)))
		check(fmt.Sprintf("insert %d", seq))
		if r.IntN(3) == 0 {
			drain()
			check("a drain")
		}
	}
	drain()
	check("the last drain")
	if len(got) != n {
		t.Errorf("seed %d: delivered %d of %d", seed, len(got), n)
	}
}
