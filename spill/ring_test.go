package spill

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestRingDeliversInSequence(t *testing.T) {
	r := NewRing[uint64](8)
	for _, seq := range rand.New(rand.NewPCG(1, 2)).Perm(8) {
		if err := r.Insert(uint64(seq), uint64(seq)*10); err != nil {
			t.Fatalf("Insert(%d): %v", seq, err)
		}
	}
	for want := uint64(0); want < 8; want++ {
		v, ok := r.Next()
		if !ok || v != want*10 {
			t.Fatalf("Next = %d, %t; want %d, true", v, ok, want*10)
		}
	}
	if _, ok := r.Next(); ok {
		t.Fatal("Next on an empty ring delivered something")
	}
	if r.Len() != 0 || r.NextExpected() != 8 {
		t.Fatalf("Len %d NextExpected %d, want 0 and 8", r.Len(), r.NextExpected())
	}
}

func TestRingWaitsForTheGap(t *testing.T) {
	r := NewRing[string](4)
	_ = r.Insert(1, "b")
	_ = r.Insert(2, "c")
	if v, ok := r.Next(); ok {
		t.Fatalf("Next delivered %q before seq 0 arrived", v)
	}
	_ = r.Insert(0, "a")
	for _, want := range []string{"a", "b", "c"} {
		if v, _ := r.Next(); v != want {
			t.Fatalf("Next = %q, want %q", v, want)
		}
	}
}

func TestRingCapacityError(t *testing.T) {
	r := NewRing[int](4)
	if err := r.Insert(3, 3); err != nil {
		t.Fatalf("Insert(3) within capacity 4: %v", err)
	}
	err := r.Insert(4, 4)
	if !errors.Is(err, ErrCapacity) {
		t.Fatalf("Insert(4) with capacity 4: %v, want ErrCapacity", err)
	}
	ce := mustErrAs[*CapacityError](t, err)
	if ce.Seq != 4 || ce.Next != 0 || ce.Capacity != 4 {
		t.Fatalf("CapacityError = %+v, want Seq 4 Next 0 Capacity 4", *ce)
	}
	if r.Len() != 1 {
		t.Fatalf("a refused insert changed Len to %d", r.Len())
	}
	// Delivery moves the window.
	_ = r.Insert(0, 0)
	r.Next()
	if err := r.Insert(4, 4); err != nil {
		t.Fatalf("Insert(4) after delivering 0: %v", err)
	}
	// The message says how far ahead the refused item was.
	err = r.Insert(9, 9)
	if want := "seq 9 is 8 ahead of next 1, capacity 4"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Insert(9) with next 1: %v, want it to say %q", err, want)
	}
}

func TestRingForceInsertGrows(t *testing.T) {
	r := NewRing[uint64](4)
	for _, seq := range []uint64{9, 5, 1} {
		if err := r.ForceInsert(seq, seq); err != nil {
			t.Fatalf("ForceInsert(%d): %v", seq, err)
		}
	}
	if r.Cap() != 4 {
		t.Fatalf("Cap = %d after growth, want the bound to stay 4", r.Cap())
	}
	if err := r.Insert(4, 4); !errors.Is(err, ErrCapacity) {
		t.Fatalf("Insert(4) after growth: %v, want ErrCapacity", err)
	}
	for seq := uint64(0); seq < 10; seq++ {
		if seq != 1 && seq != 5 && seq != 9 {
			_ = r.ForceInsert(seq, seq)
		}
	}
	for want := uint64(0); want < 10; want++ {
		if v, ok := r.Next(); !ok || v != want {
			t.Fatalf("Next = %d, %t; want %d", v, ok, want)
		}
	}
}

func TestRingRefusesDeliveredSequence(t *testing.T) {
	r := NewRing[int](4)
	_ = r.Insert(0, 0)
	r.Next()
	for name, insert := range map[string]func(uint64, int) error{"Insert": r.Insert, "ForceInsert": r.ForceInsert} {
		if err := insert(0, 0); !errors.Is(err, ErrAlreadyDelivered) {
			t.Errorf("%s of a delivered seq: %v, want ErrAlreadyDelivered", name, err)
		}
	}
}

func TestRingInsertTwiceReplaces(t *testing.T) {
	r := NewRing[string](4)
	_ = r.Insert(0, "old")
	_ = r.Insert(0, "new")
	if r.Len() != 1 {
		t.Fatalf("Len = %d after replacing, want 1", r.Len())
	}
	if v, _ := r.Next(); v != "new" {
		t.Fatalf("Next = %q, want the replacement", v)
	}
}

func TestRingHighestScansDownFromTop(t *testing.T) {
	r := NewRing[int](32)
	for _, s := range []uint64{2, 7, 20} {
		_ = r.Insert(s, 0)
	}
	for _, want := range []uint64{20, 7} {
		seq, ok := r.highest(5, noCeiling)
		if !ok || seq != want {
			t.Fatalf("highest(5) = %d, %t; want %d", seq, ok, want)
		}
		r.take(seq)
	}
	if seq, ok := r.highest(5, noCeiling); ok {
		t.Fatalf("highest(5) = %d with only seq 2 left", seq)
	}
	if seq, ok := r.highest(0, noCeiling); !ok || seq != 2 {
		t.Fatalf("highest(0) = %d, %t; want 2", seq, ok)
	}
	_ = r.Insert(9, 0)
	if seq, ok := r.highest(0, 9); !ok || seq != 2 {
		t.Fatalf("highest(0, below 9) = %d, %t; want 2", seq, ok)
	}
}

func TestRingForceInsertHasAHardLimit(t *testing.T) {
	r := NewRing[int](4)
	if err := r.ForceInsert(MaxRingSlots, 1); !errors.Is(err, ErrCapacity) {
		t.Fatalf("ForceInsert %d ahead: %v, want ErrCapacity", MaxRingSlots, err)
	}
	if err := r.ForceInsert(1<<62, 1); !errors.Is(err, ErrCapacity) {
		t.Fatalf("ForceInsert far ahead: %v, want ErrCapacity", err)
	}
}

// The ring's storage, which the byte budget does not count, is a slot per
// sequence number of its window rounded up to a power of two, and
// ForceInsert grows it to the power of two that takes the new item.
func TestRingStorageIsItsWindowRoundedUpToAPowerOfTwo(t *testing.T) {
	for capacity, want := range map[int]int{1: 1, 4: 4, 5: 8, 1024: 1024} {
		if n := len(NewRing[int](capacity).slots); n != want {
			t.Errorf("NewRing(%d) holds %d slots, want %d", capacity, n, want)
		}
	}
	r := NewRing[int](4)
	for _, c := range []struct {
		seq  uint64
		want int
	}{{4, 8}, {100, 128}} {
		if err := r.ForceInsert(c.seq, 0); err != nil {
			t.Fatal(err)
		}
		if n := len(r.slots); n != c.want {
			t.Errorf("ForceInsert(%d) grew the ring to %d slots, want %d", c.seq, n, c.want)
		}
	}
}
