package engine

import (
	"sync"
	"testing"
	"time"
)

func TestQueueDeliversEveryItemOnceInOrder(t *testing.T) {
	const items, workers = 2000, 3
	q := newQueue(4)
	go func() {
		for i := range items {
			q.put(Item{Seq: uint64(i)})
		}
		q.close()
	}()
	seen := make([][]uint64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				it, ok := q.take()
				if !ok {
					return
				}
				seen[w] = append(seen[w], it.Seq)
			}
		})
	}
	wg.Wait()
	count := make([]int, items)
	for _, s := range seen {
		for i, seq := range s {
			count[seq]++
			if i > 0 && seq <= s[i-1] {
				t.Fatalf("a worker took %d after %d: not first in, first out", seq, s[i-1])
			}
		}
	}
	for seq, n := range count {
		if n != 1 {
			t.Fatalf("item %d taken %d times", seq, n)
		}
	}
	if _, ok := q.take(); ok {
		t.Fatal("take after close and drain returned an item")
	}
}

func TestQueueWakesTheProducerOncePerHalfQueue(t *testing.T) {
	// A slow worker keeps the queue full, so the producer waits again
	// and again; each wait ends only after the worker has taken half the
	// queue, so it waits at most once per depth/2 items.
	const items, depth = 400, 16
	q := newQueue(depth)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, ok := q.take(); !ok {
				return
			}
			time.Sleep(20 * time.Microsecond)
		}
	}()
	for i := range items {
		q.put(Item{Seq: uint64(i)})
	}
	q.close()
	<-done
	if limit := items/(depth/2) + 1; q.wakes > limit || q.wakes <= 0 {
		t.Fatalf("the producer waited %d times for %d items through a queue of %d; want 1 to %d", q.wakes, items, depth, limit)
	}
}

// A queue of one item still wakes the producer: the run finishes.
func TestQueueOfOneItem(t *testing.T) {
	out := run(t, Config{Workload: small(t, "mix"), Workers: 1, QueueDepth: 1})
	if out.Err != nil || !out.Report.Clean() || out.Report.Delivered != 3000 {
		t.Fatalf("%v %v", out.Err, out.Report)
	}
}
