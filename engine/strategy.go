package engine

import (
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

// process runs an item's strategy and builds its result. The result owns the
// item's target when it carries it literally.
func process(ctx context.Context, it Item) (Result, error) {
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
		delta, st, err := ComputeDelta(ctx, it.Basis, it.Target)
		if err != nil {
			return Result{}, err
		}
		r.Literal, r.Matched = uint64(st.Literal), uint64(st.Matched)
		if it.Emit == PayloadDelta {
			r.Data = delta
		}
	default:
		panic(fmt.Sprintf("engine: item %d has unknown strategy %d", it.Seq, it.Strategy))
	}
	if it.Status != Success {
		r.Payload, r.Data = PayloadReason, []byte(it.Reason)
	}
	return r, nil
}
