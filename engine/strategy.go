package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
)

// checksum is the strong checksum of a whole file: the first SumSize bytes
// of its SHA-256.
func checksum(b []byte) [SumSize]byte {
	s := sha256.Sum256(b)
	return [SumSize]byte(s[:SumSize])
}

// process runs an item's strategy with a worker of its own.
func process(ctx context.Context, it Item) (Result, error) {
	var w worker
	return w.process(ctx, it)
}

// worker is one worker goroutine's reusable state: its delta tables, and
// the buffer for deltas that no result carries.
type worker struct {
	m       matcher
	scratch []byte
}

// process runs an item's strategy and builds its result. The result shares
// the item's target or reason when it carries them, and owns a delta.
func (w *worker) process(ctx context.Context, it Item) (Result, error) {
	r := Result{
		Seq:     it.Seq,
		Index:   it.Index,
		Status:  it.Status,
		Payload: it.Emit,
		Written: uint64(len(it.Target)),
		Sum:     checksum(it.Target),
	}
	switch it.Strategy {
	case WholeFile:
		r.Literal = r.Written
		if it.Emit == PayloadLiteral {
			r.Data = it.Target
		}
	case Delta:
		// The delta is built in the worker's scratch space; a result that
		// carries it gets a copy of its exact size.
		delta, st, err := w.m.appendDelta(ctx, w.scratch[:0], it.Basis, it.Target)
		if err != nil {
			return Result{}, err
		}
		r.Literal, r.Matched = uint64(st.Literal), uint64(st.Matched)
		if it.Emit == PayloadDelta {
			r.Data = bytes.Clone(delta)
		}
		if cap(delta) <= keepScratch {
			w.scratch = delta[:0]
		}
	default:
		panic(fmt.Sprintf("engine: item %d has unknown strategy %d", it.Seq, it.Strategy))
	}
	if it.Status != Success {
		r.Payload, r.Data = PayloadReason, it.Reason
	}
	return r, nil
}

// keepScratch is the largest scratch buffer a worker keeps between items.
const keepScratch = 4 << 20
