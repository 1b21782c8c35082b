package engine

import "sync"

// Prepared is a workload generated in advance: every item, with its basis
// and what its result must say, is in memory. A run of a prepared workload
// measures the pipeline, not the random number generator that makes its
// files; bench prepares each workload once and runs it many times.
//
// Preparing costs the memory of every target and basis at once, so
// workloads too large for memory (or runs meant to stress generation) stay
// unprepared: Run takes either.
type Prepared struct {
	wl     Workload
	items  []Item
	expect []expectation
	cost   []float64

	// The dispatch order and the arrival orders computed so far, by
	// workers and seed: a sweep runs one workload many times.
	mu       sync.Mutex
	order    []uint64
	arrivals map[[2]uint64][]uint64
}

// Prepare generates every item of wl. Preparing a Prepared returns it.
func Prepare(wl Workload) *Prepared {
	if p, ok := wl.(*Prepared); ok {
		return p
	}
	n := wl.Len()
	p := &Prepared{wl: wl, items: make([]Item, n), expect: make([]expectation, n), cost: make([]float64, n)}
	for seq := range n {
		it := wl.Item(uint64(seq))
		p.items[seq] = it
		p.expect[seq] = expect(it)
		p.cost[seq] = modelCost(it)
	}
	return p
}

// Name, Len and Drift are the generator's.
func (p *Prepared) Name() string { return p.wl.Name() }
func (p *Prepared) Len() int     { return len(p.items) }
func (p *Prepared) Drift() int   { return p.wl.Drift() }

// Item returns the prepared item seq. Its slices are shared by every run:
// nothing may write to them.
func (p *Prepared) Item(seq uint64) Item { return p.items[seq] }

// Basis returns item seq's basis.
func (p *Prepared) Basis(seq uint64) []byte { return p.items[seq].Basis }

// expectation returns what item seq's result must say, computed once.
func (p *Prepared) expectation(seq uint64) expectation { return p.expect[seq] }

// modelCost returns item seq's modelled cost.
func (p *Prepared) modelCost(seq uint64) float64 { return p.cost[seq] }

// orders returns the dispatch order, and for the Seeded schedule the
// arrival order of workers and seed, computed once each.
func (p *Prepared) orders(seeded bool, workers int, seed uint64) (dispatch, arrival []uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.order == nil {
		p.order = dispatchOrder(p)
	}
	if !seeded {
		return p.order, nil
	}
	key := [2]uint64{uint64(workers), seed}
	if p.arrivals == nil {
		p.arrivals = map[[2]uint64][]uint64{}
	}
	if p.arrivals[key] == nil {
		p.arrivals[key] = arrivalOrder(p.order, p.modelCost, workers, seed)
	}
	return p.order, p.arrivals[key]
}
