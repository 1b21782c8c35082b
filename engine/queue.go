package engine

import "sync"

// queue is the work queue between the producer and the workers, bounded
// by its depth. A channel would cost the producer a park and a wake-up
// for every item once the queue is full: each receive hands the waiting
// sender's item in and readies it, and it parks again on the next send.
// This queue wakes the producer only once the workers have taken it down
// to half, and the producer refills it without waiting; a worker waits
// only when the queue is empty.
type queue struct {
	mu             sync.Mutex
	room, ready    sync.Cond // the producer waits on room, workers on ready
	items          []Item    // a ring of depth items
	head, n        int
	closed         bool
	producerWaits  bool
	workersWaiting int
	wakes          int // times the producer waited for room: what this design keeps low
}

func newQueue(depth int) *queue {
	q := &queue{items: make([]Item, max(depth, 1))}
	q.room.L, q.ready.L = &q.mu, &q.mu
	return q
}

// put appends it, waiting while the queue is full.
func (q *queue) put(it Item) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.n == len(q.items) {
		q.producerWaits = true
		q.wakes++
		q.room.Wait()
	}
	q.items[(q.head+q.n)%len(q.items)] = it
	q.n++
	if q.workersWaiting > 0 {
		q.ready.Signal()
	}
}

// close says nothing more will be put; take returns what is left, then
// false.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.ready.Broadcast()
}

// take removes the oldest item, waiting while the queue is empty and
// open. It returns false once the queue is closed and empty.
func (q *queue) take() (Item, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.n == 0 {
		if q.closed {
			return Item{}, false
		}
		q.workersWaiting++
		q.ready.Wait()
		q.workersWaiting--
	}
	it := q.items[q.head]
	q.items[q.head] = Item{} // the worker owns it now
	q.head = (q.head + 1) % len(q.items)
	q.n--
	if q.producerWaits && q.n <= len(q.items)/2 {
		q.producerWaits = false
		q.room.Signal()
	}
	return it, true
}
