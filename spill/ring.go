package spill

import "fmt"

// Ring is a reorder buffer held entirely in memory: items go in by sequence
// number in any order and come out strictly in sequence. Insert refuses
// items Capacity or more ahead of the delivery cursor; ForceInsert takes them
// anyway and grows the storage (the bound Insert enforces stays the same).
//
// A Ring is not safe for concurrent use.
type Ring[T any] struct {
	slots []slot[T] // storage, a power of two long; slots[head] holds sequence next
	head  int
	next  uint64 // the next sequence number to deliver
	n     int    // occupied slots
	limit int    // the capacity bound for Insert
	// top is an upper bound on the highest occupied sequence number: no
	// occupied slot lies above it. Eviction scans down from it.
	top uint64
}

type slot[T any] struct {
	v  T
	ok bool
}

// MaxRingSlots bounds how far ahead of the cursor even ForceInsert goes:
// the ring's storage is a slot per sequence number in the window, and it
// is not part of the byte budget.
const MaxRingSlots = 1 << 24

// NewRing returns a ring that accepts sequence numbers up to capacity-1
// ahead of the delivery cursor, which starts at 0. It panics if capacity
// is less than 1.
func NewRing[T any](capacity int) *Ring[T] {
	if capacity < 1 {
		panic(fmt.Sprintf("spill: ring capacity %d, want at least 1", capacity))
	}
	return &Ring[T]{slots: make([]slot[T], pow2(capacity)), limit: capacity}
}

// Insert buffers v under seq. It returns a [*CapacityError] if seq is
// Capacity or more ahead of NextExpected, and [ErrAlreadyDelivered] if seq
// was delivered already. Inserting a sequence number twice replaces the item.
func (r *Ring[T]) Insert(seq uint64, v T) error {
	_, _, err := r.put(seq, v, false)
	return err
}

// ForceInsert buffers v under seq however far ahead it is (up to
// MaxRingSlots), growing the storage if needed. It returns
// [ErrAlreadyDelivered] if seq was delivered already.
func (r *Ring[T]) ForceInsert(seq uint64, v T) error {
	_, _, err := r.put(seq, v, true)
	return err
}

// Next removes and returns the item due for delivery, if it is buffered.
func (r *Ring[T]) Next() (v T, ok bool) {
	s := &r.slots[r.head]
	if !s.ok {
		return v, false
	}
	v = s.v
	*s = slot[T]{}
	r.head = (r.head + 1) & (len(r.slots) - 1)
	r.next++
	r.n--
	return v, true
}

// NextExpected returns the sequence number due for delivery.
func (r *Ring[T]) NextExpected() uint64 { return r.next }

// due reports whether the item due for delivery is buffered.
func (r *Ring[T]) due() bool { return r.slots[r.head].ok }

// Len returns the number of buffered items.
func (r *Ring[T]) Len() int { return r.n }

// Cap returns the capacity bound Insert enforces.
func (r *Ring[T]) Cap() int { return r.limit }

// put stores v under seq and returns the item it replaced, if any.
func (r *Ring[T]) put(seq uint64, v T, force bool) (old T, replaced bool, err error) {
	if seq < r.next {
		return old, false, fmt.Errorf("insert seq %d, next is %d: %w", seq, r.next, ErrAlreadyDelivered)
	}
	off := seq - r.next
	if !force && off >= uint64(r.limit) {
		return old, false, &CapacityError{Seq: seq, Next: r.next, Capacity: r.limit}
	}
	if off >= MaxRingSlots {
		return old, false, fmt.Errorf("force insert of seq %d, %d ahead of next %d, past the %d-slot limit: %w",
			seq, off, r.next, MaxRingSlots, ErrCapacity)
	}
	if off >= uint64(len(r.slots)) {
		r.grow(int(off) + 1)
	}
	s := &r.slots[r.index(off)]
	if s.ok {
		old, replaced = s.v, true
	} else {
		r.n++
	}
	s.v, s.ok = v, true
	if r.n == 1 || seq > r.top {
		r.top = seq
	}
	return old, replaced, nil
}

// take removes and returns the item under seq without moving the cursor.
func (r *Ring[T]) take(seq uint64) (v T, ok bool) {
	if seq < r.next || seq-r.next >= uint64(len(r.slots)) {
		return v, false
	}
	s := &r.slots[r.index(seq-r.next)]
	if !s.ok {
		return v, false
	}
	v = s.v
	*s = slot[T]{}
	r.n--
	if seq == r.top && seq > 0 {
		r.top = seq - 1
	}
	return v, true
}

// highest returns the highest occupied sequence number in [floor, below).
// Scanning from the top, it lowers the top hint past the empty slots it
// crosses, so eviction that keeps taking the highest item costs O(1) per
// item.
func (r *Ring[T]) highest(floor, below uint64) (uint64, bool) {
	if r.n == 0 || below == 0 {
		return 0, false
	}
	floor = max(floor, r.next)
	fromTop := below > r.top
	start := min(r.top, below-1)
	for seq := start; seq >= floor; seq-- {
		if r.slots[r.index(seq-r.next)].ok {
			if fromTop {
				r.top = seq
			}
			return seq, true
		}
		if seq == 0 {
			break
		}
	}
	return 0, false
}

// index is the slot of the sequence number off past the cursor: the
// length is a power of two, so a mask wraps it, not a division.
func (r *Ring[T]) index(off uint64) int { return (r.head + int(off)) & (len(r.slots) - 1) }

// pow2 is the least power of two at or above n.
func pow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// grow resizes the storage to at least size slots, keeping order.
func (r *Ring[T]) grow(size int) {
	size = pow2(max(size, 2*len(r.slots)))
	slots := make([]slot[T], size)
	n := copy(slots, r.slots[r.head:])
	copy(slots[n:], r.slots[:r.head])
	r.slots, r.head = slots, 0
}
