package engine

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
)

// Strategy is the work a worker does for an item.
type Strategy uint8

const (
	// WholeFile checksums the target and sends it as it is.
	WholeFile Strategy = iota
	// Delta block-matches the target against the basis (ComputeDelta).
	Delta
)

// Item is one unit of work.
type Item struct {
	Seq      uint64
	Index    uint32
	Strategy Strategy
	Target   []byte
	Basis    []byte  // the receiver's old copy, for Delta
	Status   Status  // the outcome the result reports
	Reason   []byte  // why, for NeedsRedo and Failed; the result carries it
	Emit     Payload // what a successful result carries
}

// Workload generates items. Item(seq) and Basis(seq) are deterministic for
// a given spec, so the consumer can regenerate a basis to check a delta
// instead of keeping every basis in memory.
type Workload interface {
	// Name is the workload's name in specs and benchmark names.
	Name() string
	// Len is the number of items.
	Len() int
	// Item returns item seq, 0 <= seq < Len.
	Item(seq uint64) Item
	// Basis returns Item(seq).Basis without building the target.
	Basis(seq uint64) []byte
	// Drift is the window within which the producer dispatches items out
	// of sequence order; 0 dispatches in order.
	Drift() int
}

// WorkloadSpec names a workload and sizes it.
type WorkloadSpec struct {
	Name  string  // one of Workloads
	Items int     // number of items; 0 means the workload's default
	Scale float64 // multiplies item sizes; 0 means 1
	Seed  uint64
}

// Workloads lists the named workloads.
var Workloads = []string{"mix", "tree", "hol", "bulk"}

// NewWorkload builds the workload spec names.
func NewWorkload(s WorkloadSpec) (Workload, error) {
	if s.Items < 0 {
		return nil, fmt.Errorf("workload %s: %d items; use a positive count, or 0 for the default", s.Name, s.Items)
	}
	if s.Scale < 0 {
		return nil, fmt.Errorf("workload %s: scale %g; use a positive factor, or 0 for 1", s.Name, s.Scale)
	}
	if s.Scale == 0 {
		s.Scale = 1
	}
	g := gen{spec: s}
	switch s.Name {
	case "mix":
		return &mixWorkload{g.withItems(20000)}, nil
	case "tree":
		return &treeWorkload{g.withItems(2000)}, nil
	case "hol":
		return &holWorkload{g.withItems(4000)}, nil
	case "bulk":
		return &bulkWorkload{g.withItems(200)}, nil
	}
	return nil, fmt.Errorf("unknown workload %q; use one of %s", s.Name, strings.Join(Workloads, ", "))
}

// gen holds what every generator shares.
type gen struct{ spec WorkloadSpec }

func (g gen) withItems(def int) gen {
	if g.spec.Items == 0 {
		g.spec.Items = def
	}
	return g
}

func (g gen) Len() int { return g.spec.Items }

// rng returns the random stream for one purpose of one item.
func (g gen) rng(seq uint64, purpose uint64) *rand.Rand {
	return rand.New(rand.NewPCG(g.spec.Seed^purpose*0x9e3779b97f4a7c15, seq))
}

// scaled scales n by the spec's factor, keeping at least 1.
func (g gen) scaled(n int) int { return max(1, int(float64(n)*g.spec.Scale)) }

// Purposes, so the streams of one item do not overlap.
const (
	purposeShape uint64 = iota + 1
	purposeBasis
	purposeEdit
	purposeText
)

// randomBytes returns n incompressible bytes. A PCG stream fills them
// eight at a time, several times faster than a worker's SHA-256, so the
// producer never becomes the bottleneck of a run.
func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n+7)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:n:n]
}

// vocabulary makes text-like data: compressible, the way source trees are.
var vocabulary = strings.Fields(`the of and to in is for that with on as by this be are from at or an it
	func return if else err nil struct type package import var const range for map string int uint64
	byte error context buffer spill record reorder worker queue delta block checksum basis target
	{ } ( ) := == != && || // * + - / < > ; , . = "" 0 1 2 16 64 1024`)

// phrases is a table of text lines built from the vocabulary. Text is
// made of lines picked from it: as repetitive as source code, and as fast
// to generate as a copy.
var phrases = sync.OnceValue(func() [][]byte {
	r := rand.New(rand.NewPCG(0x7e47, 1))
	table := make([][]byte, 4096)
	for i := range table {
		var line []byte
		for n := 16 + r.IntN(112); len(line) < n; {
			line = append(append(line, vocabulary[r.IntN(len(vocabulary))]...), ' ')
		}
		table[i] = append(line[:len(line)-1], '\n')
	}
	return table
})

// textBytes returns n bytes of text-like data.
func textBytes(r *rand.Rand, n int) []byte {
	table := phrases()
	b := make([]byte, 0, n+128)
	for len(b) < n {
		b = append(b, table[r.IntN(len(table))]...)
	}
	return b[:n:n]
}

// reasonText returns a redo or failure reason of n bytes.
func reasonText(r *rand.Rand, prefix string, n int) []byte {
	return append([]byte(prefix), textBytes(r, max(0, n-len(prefix)))...)[:n:n]
}

// mutate returns a copy of basis with about one edit per 16 KiB (at least
// one): runs of bytes replaced, inserted or deleted, as files change
// between syncs.
func mutate(r *rand.Rand, basis []byte) []byte {
	t := slices.Clone(basis)
	for range 1 + len(basis)/(16<<10) {
		if len(t) == 0 {
			t = append(t, textBytes(r, 1+r.IntN(64))...)
			continue
		}
		at, run := r.IntN(len(t)), 1+r.IntN(64)
		switch r.IntN(3) {
		case 0: // replace
			copy(t[at:], textBytes(r, min(run, len(t)-at)))
		case 1: // insert
			t = slices.Insert(t, at, textBytes(r, run)...)
		case 2: // delete
			t = slices.Delete(t, at, min(at+run, len(t)))
		}
	}
	return t
}

// mixWorkload is the reference benchmark's result mix: 70% successes,
// whose results are 37-byte status records; 20% needs-redo with a 64-256
// byte reason; 10% failed with a 256-1024 byte reason. Each item is a small
// file (64 B to 4 KiB, times the scale) the worker checksums whole. The
// producer dispatches items with a local drift of 8, like the reference's
// shuffled arrival order.
type mixWorkload struct{ gen }

func (w *mixWorkload) Name() string        { return "mix" }
func (w *mixWorkload) Drift() int          { return 8 }
func (w *mixWorkload) Basis(uint64) []byte { return nil }

func (w *mixWorkload) Item(seq uint64) Item {
	r := w.rng(seq, purposeShape)
	it := Item{Seq: seq, Index: uint32(seq), Strategy: WholeFile, Emit: PayloadNone}
	switch p := r.IntN(10); {
	case p < 7:
		it.Status = Success
	case p < 9:
		it.Status, it.Reason = NeedsRedo, reasonText(r, "needs redo: ", 64+r.IntN(193))
	default:
		it.Status, it.Reason = Failed, reasonText(r, "failed: ", 256+r.IntN(769))
	}
	it.Target = randomBytes(r, w.scaled(64+r.IntN(4033)))
	return it
}

// treeWorkload is a file tree synced against an older copy: most files are
// small (256 B to 16 KiB), some medium (to 256 KiB), a heavy tail large (to
// 4 MiB), all times the scale. Each file's basis is text-like; the target
// is the basis with a few edits; the worker sends a delta. One file in
// twenty is new and goes whole.
type treeWorkload struct{ gen }

func (w *treeWorkload) Name() string { return "tree" }
func (w *treeWorkload) Drift() int   { return 0 }

func (w *treeWorkload) shape(seq uint64) (size int, isNew bool) {
	r := w.rng(seq, purposeShape)
	switch p := r.IntN(100); {
	case p < 85:
		size = 256 + r.IntN(16<<10)
	case p < 98:
		size = 16<<10 + r.IntN(240<<10)
	default:
		size = 256<<10 + r.IntN(3840<<10)
	}
	return w.scaled(size), r.IntN(20) == 0
}

func (w *treeWorkload) Basis(seq uint64) []byte {
	size, isNew := w.shape(seq)
	if isNew {
		return nil
	}
	return textBytes(w.rng(seq, purposeBasis), size)
}

func (w *treeWorkload) Item(seq uint64) Item {
	it := Item{Seq: seq, Index: uint32(seq)}
	basis := w.Basis(seq)
	if basis == nil {
		size, _ := w.shape(seq)
		it.Strategy, it.Emit = WholeFile, PayloadLiteral
		it.Target = textBytes(w.rng(seq, purposeText), size)
		return it
	}
	it.Strategy, it.Emit, it.Basis = Delta, PayloadDelta, basis
	it.Target = mutate(w.rng(seq, purposeEdit), basis)
	return it
}

// holWorkload is a head-of-line stall: item 2 is a 24 MiB file (times the
// scale) rewritten since the last sync, so its delta rolls the checksum
// over every byte and finds nothing to copy, keeping one worker busy for
// a long time (the worker applies it itself and reports a status record),
// while the others race ahead through 1-8 KiB files sent whole. Everything
// behind item 2 waits in the reorder buffer: the worst case, where only
// spilling bounds memory.
type holWorkload struct{ gen }

func (w *holWorkload) Name() string { return "hol" }
func (w *holWorkload) Drift() int   { return 0 }

// slowSeq is the stalled item.
func (w *holWorkload) slowSeq() uint64 { return min(2, uint64(w.Len()-1)) }

func (w *holWorkload) Basis(seq uint64) []byte {
	if seq != w.slowSeq() {
		return nil
	}
	return textBytes(w.rng(seq, purposeBasis), w.scaled(24<<20))
}

func (w *holWorkload) Item(seq uint64) Item {
	it := Item{Seq: seq, Index: uint32(seq)}
	if seq == w.slowSeq() {
		basis := w.Basis(seq)
		it.Strategy, it.Emit, it.Basis = Delta, PayloadNone, basis
		it.Target = textBytes(w.rng(seq, purposeEdit), len(basis))
		return it
	}
	r := w.rng(seq, purposeShape)
	it.Strategy, it.Emit = WholeFile, PayloadLiteral
	it.Target = randomBytes(r, w.scaled(1<<10+r.IntN(7<<10)))
	return it
}

// bulkWorkload is large results: files of 64 KiB to 1 MiB (times the
// scale), half text-like and half random, sent whole, so the bytes the
// buffer spills dominate.
type bulkWorkload struct{ gen }

func (w *bulkWorkload) Name() string        { return "bulk" }
func (w *bulkWorkload) Drift() int          { return 0 }
func (w *bulkWorkload) Basis(uint64) []byte { return nil }

func (w *bulkWorkload) Item(seq uint64) Item {
	r := w.rng(seq, purposeShape)
	size := w.scaled(64<<10 + r.IntN(960<<10))
	it := Item{Seq: seq, Index: uint32(seq), Strategy: WholeFile, Emit: PayloadLiteral}
	if seq%2 == 0 {
		it.Target = textBytes(r, size)
	} else {
		it.Target = randomBytes(r, size)
	}
	return it
}
