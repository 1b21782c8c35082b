package engine

import (
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
)

// Schedule is how the order in which results reach the reorder buffer is
// decided.
type Schedule uint8

const (
	// Seeded delivers results to the reorder buffer in an order fixed by
	// the workload and Config.Seed: a simulation of the workers finishing
	// their items, each taking a modelled time. The workers still run
	// concurrently and do the real work; a gate between them and the
	// consumer holds a result that finishes early until its turn, and
	// stops a worker that runs too far ahead. Every insert, eviction and
	// reload of a run is then the same from one repetition to the next,
	// so its spill work is too: the default, for measuring.
	Seeded Schedule = iota
	// Free delivers results as the Go scheduler happens to finish them:
	// the real pipeline's order, different on every run.
	Free
)

func (s Schedule) String() string {
	switch s {
	case Seeded:
		return "seeded"
	case Free:
		return "free"
	}
	return fmt.Sprintf("schedule(%d)", s)
}

// ParseSchedule reads "seeded" or "free".
func ParseSchedule(s string) (Schedule, error) {
	switch s {
	case "seeded":
		return Seeded, nil
	case "free":
		return Free, nil
	}
	return 0, fmt.Errorf("schedule %q not recognised; use seeded or free", s)
}

// The cost model of the seeded schedule, in nanoseconds: what an item
// costs a worker, from the sizes of its files alone. The figures are
// round numbers near what this repository's benchmarks measure on a 2 GHz
// x86-64 with SHA extensions (BenchmarkComputeDelta, BenchmarkChecksum);
// they are constants, not measured per machine, so a seed gives the same
// schedule everywhere. Where the model is wrong about a machine the run
// still does the same work in the same order: workers wait at the gate
// instead.
const (
	costPerItem        = 500 // queueing, result hand-off, bookkeeping
	costChecksumByte   = 0.7 // SHA-256 of the target
	costIndexByte      = 1.6 // weak and strong sums of the basis blocks
	costRollTargetByte = 6.0 // rolling the window over the target, matching or not
)

// modelCost is an item's cost in the model.
func modelCost(it Item) float64 {
	c := costPerItem + costChecksumByte*float64(len(it.Target))
	if it.Strategy == Delta {
		c += costIndexByte*float64(len(it.Basis)) + costRollTargetByte*float64(len(it.Target))
	}
	return c
}

// gateBytes is how much result data the gate holds for results that
// are not yet due: results carrying whole files wait for the consumer in
// the workers rather than pile up outside the budget.
const gateBytes = 1 << 20

// jitter is the spread of a worker's time around the model: each item
// takes between 1-jitter and 1+jitter times its modelled cost, drawn from
// the seed, as real items vary with caches and preemption.
const jitter = 0.25

// dispatchOrder is the order in which the producer hands out items: by
// sequence, each window of Drift items shuffled locally the way the
// reference's benchmark shuffles arrivals.
func dispatchOrder(wl Workload) []uint64 {
	n := wl.Len()
	window := max(1, wl.Drift())
	drift := rand.New(rand.NewPCG(uint64(n), uint64(window)))
	order := make([]uint64, n)
	for i := range order {
		order[i] = uint64(i)
	}
	for start := 0; start < n; start += window {
		batch := order[start:min(start+window, n)]
		for i := range batch {
			j := min(len(batch)-1, i+drift.IntN(window))
			batch[i], batch[j] = batch[j], batch[i]
		}
	}
	return order
}

// arrivalOrder simulates workers taking items in dispatch order from a
// FIFO queue, each item taking its modelled cost times a seeded jitter,
// and returns the sequence numbers in the order they finish (ties in
// dispatch order).
//
// The gate relies on one property of this simulation: an item finishes
// behind some item dispatched after it only while that later item is
// running, so fewer than workers items dispatched before any item x
// arrive after it. That bounds what the gate can be asked to hold.
func arrivalOrder(order []uint64, cost func(seq uint64) float64, workers int, seed uint64) []uint64 {
	r := rand.New(rand.NewPCG(seed, 0x5eed5eed))
	free := make(freeTimes, workers) // every worker free at time 0
	type finish struct {
		at    float64
		index int
	}
	done := make([]finish, len(order))
	for i, seq := range order {
		start := free[0]
		end := start + cost(seq)*(1-jitter+2*jitter*r.Float64())
		free[0] = end
		heap.Fix(&free, 0)
		done[i] = finish{end, i}
	}
	slices.SortStableFunc(done, func(a, b finish) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return a.index - b.index
	})
	arrival := make([]uint64, len(order))
	for i, d := range done {
		arrival[i] = order[d.index]
	}
	return arrival
}

// freeTimes is a min-heap of the times the simulated workers fall idle.
type freeTimes []float64

func (h freeTimes) Len() int           { return len(h) }
func (h freeTimes) Less(i, j int) bool { return h[i] < h[j] }
func (h freeTimes) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *freeTimes) Push(x any)        { *h = append(*h, x.(float64)) }
func (h *freeTimes) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// gate releases results to the consumer in a fixed arrival order. Workers
// put results in as they finish them; the consumer takes them out in
// order. A worker whose result is window or more places ahead of the
// consumer waits, as does one whose result is not the next due while the
// gate holds gateBytes of result data: the gate holds at most window
// results, and gateBytes besides the next one, outside the reorder
// buffer's budget. With a window of at least the number of workers, and
// items dispatched in the order arrivalOrder simulated, waiting cannot
// deadlock: the worker holding the next result never waits, and fewer
// than workers items dispatched before it can be held by waiting workers,
// so a worker is always free to take it from the queue.
type gate struct {
	mu      sync.Mutex
	ready   sync.Cond // the consumer waits here for its next result
	room    sync.Cond // workers wait here for the window to move
	pos     []int32   // seq -> place in the arrival order
	slots   []Result  // place % window -> result
	filled  []bool
	next    int   // the place the consumer takes next
	held    int64 // bytes of result data waiting in slots
	waiting int   // workers waiting for room
	closed  bool
	stop    func() bool
}

// newGate returns a gate for the arrival order, closed when ctx is done.
func newGate(ctx context.Context, arrival []uint64, window int) *gate {
	g := &gate{pos: make([]int32, len(arrival)), slots: make([]Result, window), filled: make([]bool, window)}
	g.ready.L, g.room.L = &g.mu, &g.mu
	for place, seq := range arrival {
		g.pos[seq] = int32(place)
	}
	g.stop = context.AfterFunc(ctx, g.close)
	return g
}

// put hands r to the gate, waiting while it is too far ahead. It returns
// false if the gate closed first.
func (g *gate) put(r Result) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	place := int(g.pos[r.Seq])
	size := int64(len(r.Data))
	for !g.closed && (place >= g.next+len(g.slots) || place != g.next && g.held+size > gateBytes) {
		g.waiting++
		g.room.Wait()
		g.waiting--
	}
	if g.closed {
		return false
	}
	i := place % len(g.slots)
	g.slots[i], g.filled[i] = r, true
	g.held += size
	if place == g.next {
		g.ready.Signal()
	}
	return true
}

// takeReady appends to dst the next result in arrival order, waiting for
// it, and every result after it that is already there: one lock for a
// run of results. It returns false once the gate is closed and the next
// result has not come.
func (g *gate) takeReady(dst []Result) ([]Result, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for !g.filled[g.next%len(g.slots)] {
		if g.closed {
			return dst, false
		}
		g.ready.Wait()
	}
	for {
		i := g.next % len(g.slots)
		if !g.filled[i] {
			break
		}
		dst = append(dst, g.slots[i])
		g.held -= int64(len(g.slots[i].Data))
		g.slots[i], g.filled[i] = Result{}, false
		g.next++
	}
	if g.waiting > 0 {
		g.room.Broadcast()
	}
	return dst, true
}

// close wakes everyone: puts fail, and take returns what is already there
// in order, then false.
func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	g.ready.Broadcast()
	g.room.Broadcast()
}

// release stops watching the context.
func (g *gate) release() { g.stop() }
