package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spillbench/spillbench/spill"
)

// DefaultRingCapacity is the reorder window of a Config that leaves
// RingCapacity zero.
const DefaultRingCapacity = 1024

// ErrWorkerPanic reports a goroutine of the run (the producer, a worker,
// the consumer) that panicked; the run stops. Every such error is a
// *PanicError.
var ErrWorkerPanic = errors.New("worker panicked")

// PanicError is a panic in one of the run's goroutines, recovered and
// made the run's error: the run stops as on any other error, Run returns,
// and the caller's teardown (mounts, loop devices, FUSE servers) runs,
// where an unrecovered panic would end the process without it. It
// matches ErrWorkerPanic.
type PanicError struct {
	Where string // "producer", "worker on item 7", "consumer"
	Value any    // what was passed to panic
	Stack string // the panicking goroutine's stack
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("engine: %s panicked: %v\n%s", e.Where, e.Value, e.Stack)
}

func (e *PanicError) Unwrap() error { return ErrWorkerPanic }

// panicked records a recovered panic of the goroutine where and returns
// it as the run's error. Call it from the deferred function that
// recovered v, so the stack is the panic's.
func (p *pipeline) panicked(where string, v any) error {
	p.panics.Add(1)
	return &PanicError{Where: where, Value: v, Stack: string(debug.Stack())}
}

// Config describes one run of the pipeline. The zero value of every field
// but Workload has a working default.
type Config struct {
	Workload Workload
	// Workers is the number of worker goroutines; 0 means GOMAXPROCS.
	Workers int
	// QueueDepth bounds the work queue; 0 means 16 x Workers. The
	// producer refills the queue once the workers have taken it down to
	// half, so a deeper queue wakes it less often.
	QueueDepth int
	// RingCapacity is the reorder window; 0 means DefaultRingCapacity.
	RingCapacity int
	// Spill is the spill buffer's policy; nil turns spilling off, leaving
	// the bare in-memory ring.
	Spill *spill.Policy
	// Probe checks that the spill directory takes a file before any work
	// starts (spill.Buffer.Probe), as the reference does at transfer
	// start: a directory that cannot take the spill file fails the run
	// there, with nothing sent, instead of at the first spill.
	Probe bool
	// SampleEvery is how often heap and RSS are sampled; 0 means 5 ms.
	SampleEvery time.Duration
	// Schedule decides the order in which results reach the reorder
	// buffer; the zero value is Seeded.
	Schedule Schedule
	// Seed seeds the Seeded schedule's simulated worker times.
	Seed uint64
	// GateWindow is how many places of the arrival order the Seeded
	// schedule's gate holds; 0 means 64, and it is never less than
	// Workers. A window narrower than the workers' lead throttles them.
	GateWindow int
	// Slowdown, for testing the measurement tools only, makes the
	// consumer, once it has delivered the last item, burn CPU for this
	// fraction of the run so far (0.05 is 5%): a planted regression of a
	// known size on the run's critical path. (Burning as it delivers
	// would hide in a core the workers leave idle.) Zero, the default,
	// plants nothing.
	Slowdown float64
}

func (c Config) withDefaults() (Config, error) {
	if c.Workload == nil {
		return c, errors.New("engine: config has no workload")
	}
	if c.Workers < 0 || c.QueueDepth < 0 || c.RingCapacity < 0 || c.SampleEvery < 0 || c.GateWindow < 0 {
		return c, fmt.Errorf("engine: negative size in config (workers %d, queue %d, ring %d, gate %d)", c.Workers, c.QueueDepth, c.RingCapacity, c.GateWindow)
	}
	if c.Schedule > Free {
		return c, fmt.Errorf("engine: unknown schedule %d", c.Schedule)
	}
	if c.Slowdown < 0 || c.Slowdown > 10 {
		return c, fmt.Errorf("engine: slowdown %g; give a fraction of the run between 0 and 10", c.Slowdown)
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.QueueDepth == 0 {
		c.QueueDepth = 16 * c.Workers
	}
	if c.RingCapacity == 0 {
		c.RingCapacity = DefaultRingCapacity
	}
	if c.SampleEvery == 0 {
		c.SampleEvery = 5 * time.Millisecond
	}
	if c.GateWindow == 0 {
		c.GateWindow = 64
	}
	c.GateWindow = max(c.GateWindow, c.Workers)
	return c, nil
}

// Outcome is everything a run returns.
type Outcome struct {
	// Err is why the run stopped early (a typed spill error, ErrWorkerPanic,
	// the context's error), or nil.
	Err      error
	ExitCode int
	Report   Report
	// Spill is the spill buffer's counters; zero with spilling off.
	Spill spill.Stats
	// PeakBuffered is the most estimated bytes the reorder buffer held in
	// memory once each insert or delivery had settled (after eviction).
	PeakBuffered int64

	Wall       time.Duration
	Bytes      int64  // file bytes delivered
	PeakHeap   uint64 // Go heap in use, sampled
	PeakRSS    int64  // process resident set, sampled and high-water mark
	Allocs     uint64 // heap allocations during the run
	AllocBytes uint64
	Panics     int
	// Burned is the CPU time the planted slowdown (Config.Slowdown) spent.
	Burned time.Duration

	// The reorder window's diagnostics, as the reference reports them.
	// PeakItems is the most results it held at once, in memory and on
	// disk; Stalled is how long it held results while the one due next
	// had not arrived; ForcedInserts counts inserts back-pressure forced
	// past its capacity.
	PeakItems     int
	Stalled       time.Duration
	ForcedInserts int64
}

// ItemsPerSec is the delivery rate.
func (o Outcome) ItemsPerSec() float64 { return float64(o.Report.Delivered) / o.Wall.Seconds() }

// BytesPerSec is the delivered file bytes rate.
func (o Outcome) BytesPerSec() float64 { return float64(o.Bytes) / o.Wall.Seconds() }

// reorderer is what the consumer needs of the ring or the spill buffer.
type reorderer interface {
	NextExpected() uint64
	Cap() int
	Insert(seq uint64, r Result) error
	ForceInsert(seq uint64, r Result) error
	DrainReady(dst []Result) ([]Result, error)
	Len() int
	Close() error
}

// bareRing adapts spill.Ring to reorderer.
type bareRing struct{ *spill.Ring[Result] }

func (b bareRing) DrainReady(dst []Result) ([]Result, error) {
	for {
		r, ok := b.Ring.Next()
		if !ok {
			return dst, nil
		}
		dst = append(dst, r)
	}
}

func (bareRing) Close() error { return nil }

// Run runs the pipeline to the end of the workload, or until the reorder
// buffer fails or ctx is cancelled. Every goroutine it starts has exited
// when it returns. A config it cannot run is returned as an error; anything
// that goes wrong during the run is in the Outcome.
//
// What Run measures (Outcome.Wall and the allocation counts) starts after
// its setup: the spill buffer, the dispatch order, and for the Seeded
// schedule the simulated arrival order. It does not collect garbage
// before it starts; a caller measuring many runs decides when to.
func Run(ctx context.Context, cfg Config) (Outcome, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Outcome{}, err
	}
	var buf reorderer
	var spillBuf *spill.Buffer[Result]
	if cfg.Spill != nil {
		spillBuf, err = spill.New(cfg.RingCapacity, ResultCodec{}, *cfg.Spill)
		if err != nil {
			return Outcome{}, fmt.Errorf("engine: spill buffer: %w", err)
		}
		buf = spillBuf
		if cfg.Probe {
			if err := spillBuf.Probe(); err != nil {
				out := Outcome{Err: errors.Join(err, spillBuf.Close())}
				out.ExitCode = ExitCode(out.Err, out.Report)
				return out, nil
			}
		}
	} else {
		buf = bareRing{spill.NewRing[Result](cfg.RingCapacity)}
	}

	p := &pipeline{cfg: cfg, buf: buf, verify: newVerifier(cfg.Workload)}
	p.prepared, _ = cfg.Workload.(*Prepared)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var arrival []uint64
	if p.prepared != nil {
		p.order, arrival = p.prepared.orders(cfg.Schedule == Seeded, cfg.Workers, cfg.Seed)
	} else {
		p.order = dispatchOrder(cfg.Workload)
		if cfg.Schedule == Seeded {
			cost := func(seq uint64) float64 { return modelCost(cfg.Workload.Item(seq)) }
			arrival = arrivalOrder(p.order, cost, cfg.Workers, cfg.Seed)
		}
	}
	if cfg.Schedule == Seeded {
		p.gate = newGate(ctx, arrival, cfg.GateWindow)
		defer p.gate.release()
	}

	smp := startSampler(cfg.SampleEvery)
	start := time.Now()
	p.start = start

	work := newQueue(cfg.QueueDepth)
	results := make(chan Result, cfg.Workers)
	var producer, workers sync.WaitGroup
	producer.Go(func() {
		defer func() {
			if v := recover(); v != nil {
				cancel(p.panicked("producer", v))
			}
		}()
		p.produce(ctx, work)
	})
	for range cfg.Workers {
		workers.Go(func() {
			defer func() {
				if v := recover(); v != nil {
					cancel(p.panicked("worker", v))
					for ok := true; ok; _, ok = work.take() {
						// Read the queue to its end, as a worker does
						// after the run stops: the producer must not wait.
					}
				}
			}()
			p.work(ctx, cancel, work, results)
		})
	}
	go func() {
		workers.Wait()
		if p.gate != nil {
			p.gate.close()
		}
		close(results)
	}()

	runErr := p.consumeRecovered(ctx, results)
	p.window.finish()
	if runErr != nil {
		cancel(runErr)
	} else {
		p.slowdown()
	}
	producer.Wait()
	workers.Wait()
	for range results {
		// Wait for the closer goroutine: results is closed once the
		// workers are done, and nothing is left to read after a cancel.
	}
	var stats spill.Stats
	if spillBuf != nil {
		stats = spillBuf.Stats() // before Close, which drops the index
	}
	closeErr := buf.Close()

	wall := time.Since(start)
	m := smp.finish()
	out := Outcome{
		Err:          runErr,
		Report:       p.verify.finish(runErr != nil),
		PeakBuffered: p.peakBuffered,
		Wall:         wall,
		Bytes:        p.verify.bytes,
		PeakHeap:     m.peakHeap,
		PeakRSS:      m.peakRSS,
		Allocs:       m.allocs,
		AllocBytes:   m.allocBytes,
		Panics:       int(p.panics.Load()),
		Burned:       p.burned,

		PeakItems:     p.window.peak,
		Stalled:       p.window.stalled,
		ForcedInserts: p.window.forced,
	}
	if spillBuf != nil {
		out.Spill = stats
		out.PeakBuffered = stats.PeakMemory
	}
	if out.Err == nil && closeErr != nil {
		out.Err = closeErr
	}
	out.ExitCode = ExitCode(out.Err, out.Report)
	return out, nil
}

type pipeline struct {
	cfg      Config
	buf      reorderer
	verify   *verifier
	prepared *Prepared // cfg.Workload, if it is prepared
	order    []uint64  // dispatch order
	gate     *gate     // the Seeded schedule's; nil for Free
	panics   atomic.Int64

	// Bare-ring accounting; the spill buffer keeps its own.
	buffered, peakBuffered int64
	ready                  []Result // what a drain delivers, reused
	window                 window

	// The planted slowdown's clock.
	start  time.Time
	burned time.Duration
}

// produce records what every item's result must say and dispatches the
// items in the dispatch order. Once the run stops it sends nothing more;
// a send never blocks for good, because the workers read the queue to
// the end whatever happens.
func (p *pipeline) produce(ctx context.Context, work *queue) {
	defer work.close()
	wl := p.cfg.Workload
	for _, seq := range p.order {
		if ctx.Err() != nil {
			return
		}
		it := wl.Item(seq)
		if p.prepared != nil {
			p.verify.expect[seq] = p.prepared.expectation(seq)
		} else {
			p.verify.expect[seq] = expect(it)
		}
		work.put(it)
	}
}

// work runs the strategy of each item. A panic stops the run. After the
// run stops, a worker still reads the queue to its end, doing nothing
// with what it reads, so the producer never waits on a queue nobody
// reads and needs no select on every send.
func (p *pipeline) work(ctx context.Context, cancel context.CancelCauseFunc, work *queue, results chan<- Result) {
	var w worker
	for {
		it, ok := work.take()
		if !ok {
			return
		}
		if ctx.Err() != nil {
			continue
		}
		r, err := p.process(ctx, &w, it)
		if err != nil {
			cancel(err)
			continue
		}
		if p.gate != nil {
			p.gate.put(r) // false only when the run has stopped
			continue
		}
		select {
		case results <- r:
		case <-ctx.Done():
		}
	}
}

func (p *pipeline) process(ctx context.Context, w *worker, it Item) (r Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = p.panicked(fmt.Sprintf("worker on item %d", it.Seq), v)
		}
	}()
	return w.process(ctx, it)
}

// consumeRecovered is consume with a panic made the run's error.
func (p *pipeline) consumeRecovered(ctx context.Context, results <-chan Result) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = p.panicked("consumer", v)
		}
	}()
	return p.consume(ctx, results)
}

// consume reorders results and delivers them to the verifier until the
// workers are done or something fails. With the Seeded schedule it takes
// from the gate every result ready in arrival order at once.
func (p *pipeline) consume(ctx context.Context, results <-chan Result) error {
	if p.gate != nil {
		var batch []Result
		for {
			var ok bool
			if batch, ok = p.gate.takeReady(batch[:0]); !ok {
				return context.Cause(ctx)
			}
			for _, r := range batch {
				if err := p.insert(r); err != nil {
					return err
				}
				if _, err := p.drain(); err != nil {
					return err
				}
			}
			clear(batch)
		}
	}
	for {
		var r Result
		var ok bool
		select {
		case r, ok = <-results:
			if !ok {
				// The workers are done: because the work is, or because
				// the run was cancelled (a panic, a parent cancel), which
				// the select may not have noticed.
				return context.Cause(ctx)
			}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		if err := p.insert(r); err != nil {
			return err
		}
		if _, err := p.drain(); err != nil {
			return err
		}
	}
}

// insert buffers r with the reference's back-pressure rule: when the
// window is full, deliver what is deliverable and retry; when nothing is,
// force the insert.
func (p *pipeline) insert(r Result) error {
	for {
		var err error
		if next := p.buf.NextExpected(); r.Seq >= next && r.Seq-next >= uint64(p.buf.Cap()) {
			err = spill.ErrCapacity // known without building the error
		} else {
			err = p.buf.Insert(r.Seq, r)
		}
		if errors.Is(err, spill.ErrCapacity) {
			n, derr := p.drain()
			if derr != nil {
				return derr
			}
			if n > 0 {
				continue
			}
			err = p.buf.ForceInsert(r.Seq, r)
			p.window.forced++
		}
		if errors.Is(err, spill.ErrAlreadyDelivered) {
			p.verify.report.Duplicated++ // a second result for a delivered item
			return nil
		}
		if err == nil || errors.Is(err, spill.ErrSpillDisabled) {
			p.account(int64(ResultCodec{}.Size(r)))
			p.window.held(p.buf.Len())
		}
		return err
	}
}

// drain delivers every result that is due and returns how many. Results
// the buffer hands over along with an error are delivered too.
func (p *pipeline) drain() (int, error) {
	var err error
	p.ready, err = p.buf.DrainReady(p.ready[:0])
	for _, r := range p.ready {
		p.account(-int64(ResultCodec{}.Size(r)))
		p.verify.deliver(r)
	}
	clear(p.ready) // delivered results can be freed
	p.window.settled(p.buf.Len())
	return len(p.ready), err
}

// account tracks the bare ring's buffered bytes.
func (p *pipeline) account(delta int64) {
	p.buffered += delta
	p.peakBuffered = max(p.peakBuffered, p.buffered)
}

// slowdown burns CPU for Slowdown times the run so far.
func (p *pipeline) slowdown() {
	if p.cfg.Slowdown == 0 {
		return
	}
	now := time.Now()
	owed := time.Duration(p.cfg.Slowdown * float64(now.Sub(p.start)))
	for time.Since(now) < owed {
	}
	p.burned = time.Since(now)
}
