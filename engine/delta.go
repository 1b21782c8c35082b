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
// ctx every 64 blocks of target, so a long computation stops when the
// pipeline does.
func ComputeDelta(ctx context.Context, basis, target []byte) ([]byte, DeltaStats, error) {
	var m matcher
	return m.appendDelta(ctx, nil, basis, target)
}

// matcher computes deltas, keeping its tables between calls so that a
// worker computing many allocates only for a basis larger than any before.
//
// The weak-checksum index is shaped like rsync's: a tag table, indexed by a
// few bits of the weak digest, says where the blocks with that tag begin in
// a tag-sorted list. The window rolls one byte at a time; at almost every
// position no block has the tag, which one bit of a bitset small enough
// for the L1 cache says, and the byte costs that load and no hash-map
// probe. Only a tag with blocks compares full weak digests, and only an
// equal weak digest computes a strong hash.
type matcher struct {
	present  []uint64    // a bit per tag: has any block this tag
	tagStart []int32     // tag -> position in blocks of its first block; one extra entry ends the last range
	blocks   []int32     // block numbers, sorted by tag
	weak     []uint32    // weak digests, in the order of blocks
	strongs  []strongSum // strong hashes, by block number
	digests  []uint32    // scratch: weak digests by block number
	cursor   []int32     // scratch: placement cursors of the counting sort
}

// tagBits sizes the tag table at about eight slots per block, so a window
// over unrelated data lands on an empty slot seven times in eight: between
// 2^8 slots and rsync's 2^16.
func tagBits(nblocks int) uint {
	bits := uint(8)
	for bits < 16 && 1<<bits < 8*nblocks {
		bits++
	}
	return bits
}

// tagOf maps a weak digest to its slot: the top bits of a multiplicative
// hash, so digests that differ only in their low bits spread out.
func tagOf(d uint32, bits uint) uint32 { return (d * 0x9e3779b1) >> (32 - bits) }

// index builds the tables for basis cut into blocks of bs bytes and
// returns the tag width.
func (m *matcher) index(basis []byte, bs int) uint {
	nblocks := len(basis) / bs
	bits := tagBits(nblocks)
	slots := 1 << bits
	m.present = resize(m.present, (slots+63)/64)
	clear(m.present)
	m.tagStart = resize(m.tagStart, slots+1)
	m.cursor = resize(m.cursor, slots)
	m.blocks = resize(m.blocks, nblocks)
	m.weak = resize(m.weak, nblocks)
	m.strongs = resize(m.strongs, nblocks)
	m.digests = resize(m.digests, nblocks)
	// A counting sort by tag: count each tag, take prefix sums, place.
	clear(m.tagStart)
	for i := range nblocks {
		blk := basis[i*bs : (i+1)*bs]
		d := newWeak(blk).digest()
		m.digests[i] = d
		m.strongs[i] = strong(blk)
		t := tagOf(d, bits)
		m.tagStart[t+1]++
		m.present[t/64] |= 1 << (t % 64)
	}
	for t := 1; t <= slots; t++ {
		m.tagStart[t] += m.tagStart[t-1]
	}
	copy(m.cursor, m.tagStart[:slots])
	for i, d := range m.digests {
		t := tagOf(d, bits)
		at := m.cursor[t]
		m.cursor[t]++
		m.blocks[at], m.weak[at] = int32(i), d
	}
	return bits
}

// appendDelta appends to dst the delta that turns basis into target.
func (m *matcher) appendDelta(ctx context.Context, dst, basis, target []byte) ([]byte, DeltaStats, error) {
	bs := BlockSize(len(basis))
	var st DeltaStats
	bits := m.index(basis, bs)

	e := deltaEncoder{out: binary.AppendUvarint(dst, uint64(bs))}
	lit := 0 // start of the pending literal run
	pos, check := 0, 0
	var w weakSum
	if len(target) >= bs {
		w = newWeak(target[:bs])
	}
	for pos+bs <= len(target) {
		if pos >= check {
			if err := ctx.Err(); err != nil {
				return nil, st, err
			}
			check = pos + 64*bs
		}
		d := w.digest()
		if t := tagOf(d, bits); m.present[t/64]&(1<<(t%64)) != 0 {
			if blk, ok := m.match(m.tagStart[t], m.tagStart[t+1], d, target[pos:pos+bs]); ok {
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

// match looks for the block among blocks[lo:hi] whose weak digest is d and
// whose strong hash is window's, computing that hash at most once.
func (m *matcher) match(lo, hi int32, d uint32, window []byte) (int, bool) {
	var s strongSum
	computed := false
	for i := lo; i < hi; i++ {
		if m.weak[i] != d {
			continue
		}
		if !computed {
			s, computed = strong(window), true
		}
		if blk := m.blocks[i]; m.strongs[blk] == s {
			return int(blk), true
		}
	}
	return 0, false
}

// resize returns s with length n, reusing its storage when it is large
// enough. The contents are not preserved.
func resize[E any](s []E, n int) []E {
	if cap(s) < n {
		return make([]E, n)
	}
	return s[:n]
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
	return appendApplied(nil, basis, delta, limit)
}

// appendApplied is ApplyDelta building into dst's storage: it appends the
// rebuilt target to dst[:0]. The limit counts only what it appends.
func appendApplied(dst, basis, delta []byte, limit int) ([]byte, error) {
	if limit <= 0 || limit > MaxDeltaOutput {
		limit = MaxDeltaOutput
	}
	bs, n := binary.Uvarint(delta)
	if n <= 0 || bs < minBlockSize || bs > maxBlockSize {
		return nil, fmt.Errorf("%w: block size header", ErrBadDelta)
	}
	rest := delta[n:]
	nblocks := uint64(len(basis)) / bs
	out := dst[:0]
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
