package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spillbench/spillbench/spill"
)

// DefaultRingCapacity is the reorder window of a Config that leaves
// RingCapacity zero.
const DefaultRingCapacity = 1024

// ErrWorkerPanic reports a worker that panicked; the run stops.
var ErrWorkerPanic = errors.New("worker panicked")

// Config describes one run of the pipeline. The zero value of every field
// but Workload has a working default.
type Config struct {
	Workload Workload
	// Workers is the number of worker goroutines; 0 means GOMAXPROCS.
	Workers int
	// QueueDepth bounds the work queue; 0 means 2 x Workers.
	QueueDepth int
	// RingCapacity is the reorder window; 0 means DefaultRingCapacity.
	RingCapacity int
	// Spill is the spill buffer's policy; nil turns spilling off, leaving
	// the bare in-memory ring.
	Spill *spill.Policy
	// SampleEvery is how often heap and RSS are sampled; 0 means 5 ms.
	SampleEvery time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.Workload == nil {
		return c, errors.New("engine: config has no workload")
	}
	if c.Workers < 0 || c.QueueDepth < 0 || c.RingCapacity < 0 || c.SampleEvery < 0 {
		return c, fmt.Errorf("engine: negative size in config (workers %d, queue %d, ring %d)", c.Workers, c.QueueDepth, c.RingCapacity)
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.QueueDepth == 0 {
		c.QueueDepth = 2 * c.Workers
	}
	if c.RingCapacity == 0 {
		c.RingCapacity = DefaultRingCapacity
	}
	if c.SampleEvery == 0 {
		c.SampleEvery = 5 * time.Millisecond
	}
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
}

// ItemsPerSec is the delivery rate.
func (o Outcome) ItemsPerSec() float64 { return float64(o.Report.Delivered) / o.Wall.Seconds() }

// BytesPerSec is the delivered file bytes rate.
func (o Outcome) BytesPerSec() float64 { return float64(o.Bytes) / o.Wall.Seconds() }

// reorderer is what the consumer needs of the ring or the spill buffer.
type reorderer interface {
	Insert(seq uint64, r Result) error
	ForceInsert(seq uint64, r Result) error
	Next() (Result, bool, error)
	Close() error
}

// bareRing adapts spill.Ring to reorderer.
type bareRing struct{ *spill.Ring[Result] }

func (b bareRing) Next() (Result, bool, error) {
	r, ok := b.Ring.Next()
	return r, ok, nil
}

func (bareRing) Close() error { return nil }

// Run runs the pipeline to the end of the workload, or until the reorder
// buffer fails or ctx is cancelled. Every goroutine it starts has exited
// when it returns. A config it cannot run is returned as an error; anything
// that goes wrong during the run is in the Outcome.
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
	} else {
		buf = bareRing{spill.NewRing[Result](cfg.RingCapacity)}
	}

	p := &pipeline{cfg: cfg, buf: buf, verify: newVerifier(cfg.Workload)}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	runtime.GC() // start from a settled heap
	smp := startSampler(cfg.SampleEvery)
	start := time.Now()

	work := make(chan Item, cfg.QueueDepth)
	results := make(chan Result, cfg.Workers)
	var producer, workers sync.WaitGroup
	producer.Go(func() { p.produce(ctx, work) })
	for range cfg.Workers {
		workers.Go(func() { p.work(ctx, cancel, work, results) })
	}
	go func() {
		workers.Wait()
		close(results)
	}()

	runErr := p.consume(ctx, results)
	if runErr != nil {
		cancel(runErr)
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
	cfg    Config
	buf    reorderer
	verify *verifier
	panics atomic.Int64

	// Bare-ring accounting; the spill buffer keeps its own.
	buffered, peakBuffered int64
}

// produce numbers every item, records what its result must say, and
// dispatches it, in sequence or drifted within the workload's window.
func (p *pipeline) produce(ctx context.Context, work chan<- Item) {
	defer close(work)
	wl := p.cfg.Workload
	n := wl.Len()
	window := max(1, wl.Drift())
	drift := rand.New(rand.NewPCG(uint64(n), uint64(window)))
	batch := make([]Item, 0, window)
	for start := 0; start < n; start += window {
		batch = batch[:0]
		for seq := start; seq < min(start+window, n); seq++ {
			batch = append(batch, wl.Item(uint64(seq)))
		}
		for i := range batch { // the reference's local drift shuffle
			j := min(len(batch)-1, i+drift.IntN(window))
			batch[i], batch[j] = batch[j], batch[i]
		}
		for _, it := range batch {
			p.verify.expect[it.Seq] = expect(it)
			select {
			case work <- it:
			case <-ctx.Done():
				p.verify.expect[it.Seq].sent = false
				return
			}
		}
	}
}

// work runs the strategy of each item. A panic stops the run.
func (p *pipeline) work(ctx context.Context, cancel context.CancelCauseFunc, work <-chan Item, results chan<- Result) {
	for it := range work {
		r, err := p.process(ctx, it)
		if err != nil {
			cancel(err)
			return
		}
		select {
		case results <- r:
		case <-ctx.Done():
			return
		}
	}
}

func (p *pipeline) process(ctx context.Context, it Item) (r Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			p.panics.Add(1)
			err = fmt.Errorf("%w on item %d: %v", ErrWorkerPanic, it.Seq, v)
		}
	}()
	return process(ctx, it)
}

// consume reorders results and delivers them to the verifier until the
// workers are done or something fails.
func (p *pipeline) consume(ctx context.Context, results <-chan Result) error {
	for {
		select {
		case r, ok := <-results:
			if !ok {
				// The workers are done: because the work is, or because
				// the run was cancelled (a panic, a parent cancel), which
				// the select may not have noticed first.
				return context.Cause(ctx)
			}
			if err := p.insert(r); err != nil {
				return err
			}
			if _, err := p.drain(); err != nil {
				return err
			}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// insert buffers r with the reference's back-pressure rule: when the
// window is full, deliver what is deliverable and retry; when nothing is,
// force the insert.
func (p *pipeline) insert(r Result) error {
	for {
		err := p.buf.Insert(r.Seq, r)
		if errors.Is(err, spill.ErrCapacity) {
			n, derr := p.drain()
			if derr != nil {
				return derr
			}
			if n > 0 {
				continue
			}
			err = p.buf.ForceInsert(r.Seq, r)
		}
		if errors.Is(err, spill.ErrAlreadyDelivered) {
			p.verify.report.Duplicated++ // a second result for a delivered item
			return nil
		}
		if err == nil || errors.Is(err, spill.ErrSpillDisabled) {
			p.account(int64(ResultCodec{}.Size(r)))
		}
		return err
	}
}

// drain delivers every result that is due and returns how many.
func (p *pipeline) drain() (int, error) {
	n := 0
	for {
		r, ok, err := p.buf.Next()
		if err != nil || !ok {
			return n, err
		}
		p.account(-int64(ResultCodec{}.Size(r)))
		p.verify.deliver(r)
		n++
	}
}

// account tracks the bare ring's buffered bytes.
func (p *pipeline) account(delta int64) {
	p.buffered += delta
	p.peakBuffered = max(p.peakBuffered, p.buffered)
}
