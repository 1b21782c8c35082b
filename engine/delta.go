package engine

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The delta strategy is rsync's block match: the basis is cut into blocks,
// each with a weak rolling checksum and a strong hash; a window slides over
// the target one byte at a time, rolling the weak sum, and where weak and
// strong match a basis block the delta says "copy block i" instead of
// carrying the bytes.
//
// A delta is:
//
//	uvarint block size
//	ops until the end, each one of
//	  0x00 uvarint n, n literal bytes
//	  0x01 uvarint first block, uvarint count   (copy count blocks)
const (
	opLiteral byte = 0
	opCopy    byte = 1

	minBlockSize = 700     // rsync's floor for the block size
	maxBlockSize = 1 << 17 // rsync's ceiling

	// MaxDeltaOutput is the most ApplyDelta builds when its caller gives
	// no tighter limit, so a hostile delta cannot make it allocate
	// without bound.
	MaxDeltaOutput = 1 << 30
)

// BlockSize returns the block size for a basis of n bytes: the square root
// of n, between 700 bytes and 128 KiB, rounded to a multiple of 8, as rsync
// chooses it.
func BlockSize(n int) int {
	b := int(math.Sqrt(float64(n))) &^ 7
	return min(max(b, minBlockSize), maxBlockSize)
}

// strongSum is the per-block strong hash: the first 16 bytes of SHA-256.
type strongSum [16]byte

func strong(b []byte) strongSum {
	s := sha256.Sum256(b)
	return strongSum(s[:16])
}

// weakSum is rsync's rolling checksum of a window: a is the sum of the
// bytes, b the sum of the running sums, both mod 2^16.
type weakSum struct{ a, b uint32 }

func newWeak(w []byte) weakSum {
	var s weakSum
	n := uint32(len(w))
	for i, c := range w {
		s.a += uint32(c)
		s.b += (n - uint32(i)) * uint32(c)
	}
	return s
}

// roll moves a window of n bytes one byte on: out leaves, in enters.
func (s *weakSum) roll(out, in byte, n int) {
	s.a += uint32(in) - uint32(out)
	s.b += s.a - uint32(n)*uint32(out)
}

func (s weakSum) digest() uint32 { return s.a&0xffff | s.b<<16 }

// DeltaStats says how much of a target the basis supplied.
type DeltaStats struct {
	Matched int // bytes copied from the basis
	Literal int // bytes carried in the delta
}

// ComputeDelta returns the delta that turns basis into target. It checks
// ctx every block of target, so a long computation stops when the
// pipeline does.
func ComputeDelta(ctx context.Context, basis, target []byte) ([]byte, DeltaStats, error) {
	bs := BlockSize(len(basis))
	delta := binary.AppendUvarint(nil, uint64(bs))
	var st DeltaStats

	nblocks := len(basis) / bs
	index := make(map[uint32][]int32, nblocks)
	strongs := make([]strongSum, nblocks)
	for i := range nblocks {
		blk := basis[i*bs : (i+1)*bs]
		d := newWeak(blk).digest()
		index[d] = append(index[d], int32(i))
		strongs[i] = strong(blk)
	}

	var e deltaEncoder
	e.out = delta
	lit := 0 // start of the pending literal run
	pos := 0
	var w weakSum
	if len(target) >= bs {
		w = newWeak(target[:bs])
	}
	for pos+bs <= len(target) {
		if pos%(64*bs) == 0 {
			if err := ctx.Err(); err != nil {
				return nil, st, err
			}
		}
		if cands, ok := index[w.digest()]; ok {
			if blk, ok := matchStrong(strongs, cands, target[pos:pos+bs]); ok {
				e.literal(target[lit:pos])
				st.Literal += pos - lit
				e.copyBlock(blk)
				st.Matched += bs
				pos += bs
				lit = pos
				if pos+bs <= len(target) {
					w = newWeak(target[pos : pos+bs])
				}
				continue
			}
		}
		if pos+bs < len(target) {
			w.roll(target[pos], target[pos+bs], bs)
		}
		pos++
	}
	e.literal(target[lit:])
	st.Literal += len(target) - lit
	return e.finish(), st, nil
}

func matchStrong(strongs []strongSum, cands []int32, window []byte) (int, bool) {
	s := strong(window)
	for _, c := range cands {
		if strongs[c] == s {
			return int(c), true
		}
	}
	return 0, false
}

// deltaEncoder appends ops, merging runs of consecutive block copies.
type deltaEncoder struct {
	out              []byte
	runStart, runLen int
}

func (e *deltaEncoder) literal(b []byte) {
	if len(b) == 0 {
		return
	}
	e.flushCopy()
	e.out = append(e.out, opLiteral)
	e.out = binary.AppendUvarint(e.out, uint64(len(b)))
	e.out = append(e.out, b...)
}

func (e *deltaEncoder) copyBlock(i int) {
	if e.runLen > 0 && e.runStart+e.runLen == i {
		e.runLen++
		return
	}
	e.flushCopy()
	e.runStart, e.runLen = i, 1
}

func (e *deltaEncoder) flushCopy() {
	if e.runLen == 0 {
		return
	}
	e.out = append(e.out, opCopy)
	e.out = binary.AppendUvarint(e.out, uint64(e.runStart))
	e.out = binary.AppendUvarint(e.out, uint64(e.runLen))
	e.runLen = 0
}

func (e *deltaEncoder) finish() []byte {
	e.flushCopy()
	return e.out
}

// ErrBadDelta reports a delta that does not decode against its basis.
var ErrBadDelta = errors.New("bad delta")

// ApplyDelta rebuilds the target from basis and delta, refusing to build
// more than limit bytes (MaxDeltaOutput if limit is 0 or more than that):
// a caller that knows the target's size passes it. A delta that is
// malformed, refers to blocks the basis does not have, or builds too much
// returns an error wrapping ErrBadDelta.
func ApplyDelta(basis, delta []byte, limit int) ([]byte, error) {
	if limit <= 0 || limit > MaxDeltaOutput {
		limit = MaxDeltaOutput
	}
	bs, n := binary.Uvarint(delta)
	if n <= 0 || bs < minBlockSize || bs > maxBlockSize {
		return nil, fmt.Errorf("%w: block size header", ErrBadDelta)
	}
	rest := delta[n:]
	nblocks := uint64(len(basis)) / bs
	var out []byte
	grow := func(add uint64) error {
		if uint64(len(out))+add > uint64(limit) {
			return fmt.Errorf("%w: output past the %d-byte limit", ErrBadDelta, limit)
		}
		return nil
	}
	for len(rest) > 0 {
		op := rest[0]
		rest = rest[1:]
		switch op {
		case opLiteral:
			size, n := binary.Uvarint(rest)
			if n <= 0 || size > uint64(len(rest)-n) {
				return nil, fmt.Errorf("%w: literal length", ErrBadDelta)
			}
			if err := grow(size); err != nil {
				return nil, err
			}
			rest = rest[n:]
			out = append(out, rest[:size]...)
			rest = rest[size:]
		case opCopy:
			first, n1 := binary.Uvarint(rest)
			if n1 <= 0 {
				return nil, fmt.Errorf("%w: copy block", ErrBadDelta)
			}
			count, n2 := binary.Uvarint(rest[n1:])
			if n2 <= 0 || count == 0 || first >= nblocks || count > nblocks-first {
				return nil, fmt.Errorf("%w: copy of blocks outside the basis", ErrBadDelta)
			}
			if err := grow(count * bs); err != nil {
				return nil, err
			}
			rest = rest[n1+n2:]
			out = append(out, basis[first*bs:(first+count)*bs]...)
		default:
			return nil, fmt.Errorf("%w: unknown op 0x%02x", ErrBadDelta, op)
		}
	}
	return out, nil
}
