package spill

import "slices"

// The buffer's bookkeeping of what is on disk, in two plain tables instead
// of hash maps: a lookup on the delivery path is an array index, and
// nothing is allocated per record or per item once the tables have grown.
//
// Note: the first version kept map[uint64]int64 (sequence -> offset) and
// map[int64]*record (offset -> record). Map probes, deletes and the record
// allocations were a quarter of the per-item spill path's time.

// seqIndex maps the sequence number of each spilled item to the offset of
// its record. Spilled sequence numbers all lie in the ring's window above
// the delivery cursor, so a table at least as long as that window,
// indexed by sequence modulo its length, never holds two of them in one
// slot; it doubles when one would.
type seqIndex struct {
	slots []seqSlot // length a power of two
	n     int
}

type seqSlot struct {
	seq uint64
	off int64
	ok  bool
}

// get returns the offset of seq's record, if seq is spilled.
func (x *seqIndex) get(seq uint64) (int64, bool) {
	if x.n == 0 {
		return 0, false
	}
	s := &x.slots[seq&uint64(len(x.slots)-1)]
	if !s.ok || s.seq != seq {
		return 0, false
	}
	return s.off, true
}

// set records that seq is spilled in the record at off.
func (x *seqIndex) set(seq uint64, off int64) {
	for {
		if len(x.slots) > 0 {
			s := &x.slots[seq&uint64(len(x.slots)-1)]
			if !s.ok {
				*s = seqSlot{seq, off, true}
				x.n++
				return
			}
			if s.seq == seq {
				s.off = off
				return
			}
		}
		x.grow()
	}
}

// del forgets seq, if it is spilled.
func (x *seqIndex) del(seq uint64) bool {
	if x.n == 0 {
		return false
	}
	s := &x.slots[seq&uint64(len(x.slots)-1)]
	if !s.ok || s.seq != seq {
		return false
	}
	*s = seqSlot{}
	x.n--
	return true
}

// grow doubles the table (from 64 slots) and places every entry again.
func (x *seqIndex) grow() {
	old := x.slots
	x.slots = make([]seqSlot, max(64, 2*len(old)))
	x.n = 0
	for _, s := range old {
		if s.ok {
			x.set(s.seq, s.off)
		}
	}
}

// shift moves every offset down by d.
func (x *seqIndex) shift(d int64) {
	for i := range x.slots {
		if x.slots[i].ok {
			x.slots[i].off -= d
		}
	}
}

// recordTable holds the records of the spill data in the order they lie
// in it, which is the order they were made: a record is always placed
// after every live one. A record whose items are all gone stays as a
// tombstone until the records around it go too, or until tombstones are
// the majority and the table is compacted.
type recordTable struct {
	recs []tableRecord // ascending offsets
	live int           // records with live items
}

type tableRecord struct {
	off  int64
	size int64 // header and stored payload
	live int   // entries the index still points at; 0 for a tombstone
}

// add appends a record placed at the end of the spill data.
func (t *recordTable) add(off, size int64, live int) {
	t.recs = append(t.recs, tableRecord{off, size, live})
	t.live++
}

// find returns the position of the live record at off. Records are
// reloaded in the order their items are due, which is mostly the order
// they were written: the first record is tried before a binary search.
func (t *recordTable) find(off int64) (int, bool) {
	if len(t.recs) > 0 && t.recs[0].off == off {
		return 0, t.recs[0].live > 0
	}
	i, ok := slices.BinarySearchFunc(t.recs, off, cmpOffset)
	return i, ok && t.recs[i].live > 0
}

func cmpOffset(r tableRecord, off int64) int {
	switch {
	case r.off < off:
		return -1
	case r.off > off:
		return 1
	}
	return 0
}

// get returns the live record at off.
func (t *recordTable) get(off int64) (tableRecord, bool) {
	i, ok := t.find(off)
	if !ok {
		return tableRecord{}, false
	}
	return t.recs[i], true
}

// release drops one live item from the record at off and reports whether
// that was its last.
func (t *recordTable) release(off int64) (last bool) {
	i, ok := t.find(off)
	if !ok {
		return false
	}
	if t.recs[i].live--; t.recs[i].live > 0 {
		return false
	}
	t.kill(i)
	return true
}

// drop makes the live record at off a tombstone.
func (t *recordTable) drop(off int64) {
	if i, ok := t.find(off); ok {
		t.kill(i)
	}
}

func (t *recordTable) kill(i int) {
	t.recs[i].live = 0
	t.live--
	// Tombstones at either end go (the end of the data is the end of the
	// last live record); those between live records go once they are
	// the majority.
	n := len(t.recs)
	for n > 0 && t.recs[n-1].live == 0 {
		n--
	}
	k := 0
	for k < n && t.recs[k].live == 0 {
		k++
	}
	t.recs = t.recs[k:n]
	if len(t.recs) > 2*t.live+16 {
		t.recs = slices.DeleteFunc(t.recs, func(r tableRecord) bool { return r.live == 0 })
	}
}

// end is where the next record goes: after the last live one.
func (t *recordTable) end() int64 {
	if len(t.recs) == 0 {
		return 0
	}
	r := t.recs[len(t.recs)-1]
	return r.off + r.size
}

// below counts the live records that end at or below off, and their items.
func (t *recordTable) below(off int64) (records, items int) {
	for _, r := range t.recs {
		if r.live > 0 && r.off+r.size <= off {
			records++
			items += r.live
		}
	}
	return records, items
}

// within counts the live records lying wholly in [from, to).
func (t *recordTable) within(from, to int64) int {
	n := 0
	i, _ := slices.BinarySearchFunc(t.recs, from, cmpOffset)
	for ; i < len(t.recs) && t.recs[i].off < to; i++ {
		if r := t.recs[i]; r.live > 0 && r.off+r.size <= to {
			n++
		}
	}
	return n
}

// truncate drops every record at or above off, live or not: records
// staged and never written, whose staging is undone.
func (t *recordTable) truncate(off int64) {
	i := len(t.recs)
	for i > 0 && t.recs[i-1].off >= off {
		if t.recs[i-1].live > 0 {
			t.live--
		}
		i--
	}
	t.recs = t.recs[:i]
}

// shift moves every record down by d, dropping those that would fall
// below zero (there are none live when the buffer rebases).
func (t *recordTable) shift(d int64) {
	t.recs = slices.DeleteFunc(t.recs, func(r tableRecord) bool { return r.off < d })
	for i := range t.recs {
		t.recs[i].off -= d
	}
}
