package engine

import (
	"fmt"
	"hash/maphash"
)

// Report is the consumer's account of a run: every item the producer sent
// is delivered once, in sequence, intact, or counted here as why not.
type Report struct {
	Sent       int64 // items the producer dispatched
	Delivered  int64 // distinct items the consumer received
	Lost       int64 // items skipped over, or never delivered by a run that claimed success
	Duplicated int64 // deliveries of an item already delivered
	Corrupted  int64 // deliveries that failed verification
	OutOfOrder int64 // deliveries that were not the next item due
	// Undelivered counts items still owed when a run stopped on an error:
	// not lost, just never reached.
	Undelivered int64
}

// Clean reports whether nothing was lost, duplicated, corrupted or
// delivered out of order.
func (r Report) Clean() bool {
	return r.Lost == 0 && r.Duplicated == 0 && r.Corrupted == 0 && r.OutOfOrder == 0
}

func (r Report) String() string {
	verdict := "clean"
	if !r.Clean() {
		verdict = "FAILED"
	}
	return fmt.Sprintf("sent %d delivered %d lost %d duplicated %d corrupted %d out-of-order %d undelivered %d: %s",
		r.Sent, r.Delivered, r.Lost, r.Duplicated, r.Corrupted, r.OutOfOrder, r.Undelivered, verdict)
}

// expectation is what the producer recorded about an item before sending
// it: what its result must say. Payload data is checked with a fast
// seeded hash, so verifying costs the consumer and the producer far less
// than the workers' strong checksums and deltas.
type expectation struct {
	sent   bool // the producer dispatched the item
	status Status
	emit   Payload
	size   uint64
	sum    [SumSize]byte // the target's strong checksum, for status-only results
	hash   uint64        // hash of the data the result must carry
	dataN  int           // its length
}

// hashSeed seeds the verification hash; any seed will do within a run.
var hashSeed = maphash.MakeSeed()

func expect(it Item) expectation {
	e := expectation{sent: true, status: it.Status, emit: it.Emit, size: uint64(len(it.Target))}
	switch {
	case it.Status != Success:
		e.emit, e.hash, e.dataN = PayloadReason, maphash.Bytes(hashSeed, it.Reason), len(it.Reason)
		e.sum = checksum(it.Target)
	case it.Emit == PayloadNone:
		e.sum = checksum(it.Target)
	default:
		e.hash, e.dataN = maphash.Bytes(hashSeed, it.Target), len(it.Target)
	}
	return e
}

// verifier checks deliveries against the producer's expectations.
type verifier struct {
	wl        Workload
	expect    []expectation // by seq, written by the producer before dispatch
	delivered []bool
	next      uint64 // the sequence number due
	highest   int64  // highest sequence number delivered, -1 before any
	report    Report
	bytes     int64  // file bytes delivered
	scratch   []byte // rebuilt files, reused
}

func newVerifier(wl Workload) *verifier {
	n := wl.Len()
	return &verifier{wl: wl, expect: make([]expectation, n), delivered: make([]bool, n), highest: -1}
}

// deliver checks one delivered result and commits it.
func (v *verifier) deliver(r Result) {
	if r.Seq >= uint64(len(v.delivered)) {
		v.report.Corrupted++ // a sequence number no item has
		return
	}
	if v.delivered[r.Seq] {
		v.report.Duplicated++
		return
	}
	if r.Seq != v.next {
		v.report.OutOfOrder++
	}
	v.delivered[r.Seq] = true
	v.report.Delivered++
	v.next = max(v.next, r.Seq+1)
	v.highest = max(v.highest, int64(r.Seq))
	if !v.intact(r) {
		v.report.Corrupted++
		return
	}
	v.bytes += int64(r.Written)
}

// intact reports whether r is what the producer said it would be.
func (v *verifier) intact(r Result) bool {
	e := v.expect[r.Seq]
	if r.Status != e.status || r.Payload != e.emit || r.Written != e.size {
		return false
	}
	switch r.Payload {
	case PayloadNone:
		return len(r.Data) == 0 && r.Sum == e.sum
	case PayloadReason:
		return r.Sum == e.sum && len(r.Data) == e.dataN && maphash.Bytes(hashSeed, r.Data) == e.hash
	case PayloadLiteral:
		return len(r.Data) == e.dataN && maphash.Bytes(hashSeed, r.Data) == e.hash
	case PayloadDelta:
		file, err := appendApplied(v.scratch, v.wl.Basis(r.Seq), r.Data, e.dataN)
		if err != nil {
			return false
		}
		if cap(file) <= keepScratch {
			v.scratch = file[:0]
		}
		return len(file) == e.dataN && maphash.Bytes(hashSeed, file) == e.hash
	}
	return false
}

// finish closes the account once the producer has stopped: items sent but
// never delivered are lost if they were skipped over or the run claims
// success, and undelivered if the run stopped early on an error.
func (v *verifier) finish(stopped bool) Report {
	for seq, e := range v.expect {
		if !e.sent {
			continue
		}
		v.report.Sent++
		if v.delivered[seq] {
			continue
		}
		if int64(seq) < v.highest || !stopped {
			v.report.Lost++
		} else {
			v.report.Undelivered++
		}
	}
	return v.report
}
