package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestWeakSumRollsLikeAFreshSum(t *testing.T) {
	data := noise(1, 2, 5000)
	const n = 700
	w := newWeak(data[:n])
	for i := 0; i+n < len(data); i++ {
		w.roll(data[i], data[i+n], n)
		if fresh := newWeak(data[i+1 : i+1+n]); w.digest() != fresh.digest() {
			t.Fatalf("at %d: rolled %08x, fresh %08x", i+1, w.digest(), fresh.digest())
		}
	}
}

func TestBlockSize(t *testing.T) {
	for n, want := range map[int]int{0: 700, 1000: 700, 1 << 20: 1024, 1 << 30: 32768, 1 << 40: 1 << 17} {
		if got := BlockSize(n); got != want {
			t.Errorf("BlockSize(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestDeltaReproducesTheTarget(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 9))
		var basis, target []byte
		switch seed % 5 {
		case 0: // an edited copy
			basis = textBytes(r, r.IntN(200<<10))
			target = mutate(r, basis)
		case 1: // unrelated files
			basis, target = noise(seed, 1, r.IntN(20000)), noise(seed, 2, r.IntN(20000))
		case 2: // identical
			basis = noise(seed, 1, r.IntN(100000))
			target = bytes.Clone(basis)
		case 3: // shorter than a block, or empty
			basis, target = textBytes(r, r.IntN(700)), textBytes(r, r.IntN(700))
		case 4: // blocks moved around
			basis = noise(seed, 1, 50000)
			target = append(append([]byte{}, basis[30000:]...), basis[:30000]...)
		}
		delta, st, err := ComputeDelta(ctx, basis, target)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ApplyDelta(basis, delta, 0)
		if err != nil {
			t.Fatalf("seed %d: ApplyDelta: %v", seed, err)
		}
		if !bytes.Equal(got, target) {
			t.Fatalf("seed %d: delta of %d bytes rebuilt %d bytes, want the %d-byte target", seed, len(delta), len(got), len(target))
		}
		if st.Matched+st.Literal != len(target) {
			t.Fatalf("seed %d: matched %d + literal %d != %d", seed, st.Matched, st.Literal, len(target))
		}
		if seed%5 == 2 && st.Literal >= BlockSize(len(basis)) {
			t.Fatalf("seed %d: identical files sent %d literal bytes", seed, st.Literal)
		}
		if seed%5 == 0 && len(basis) > 100<<10 && len(delta) > len(target)/4 {
			t.Fatalf("seed %d: an edited %d-byte file needed a %d-byte delta", seed, len(target), len(delta))
		}
	}
}

func TestComputeDeltaStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	basis := noise(1, 1, 1<<20)
	if _, _, err := ComputeDelta(ctx, basis, basis); !errors.Is(err, context.Canceled) {
		t.Fatalf("ComputeDelta on a cancelled context: %v", err)
	}
}

func TestApplyDeltaRejects(t *testing.T) {
	basis := noise(1, 1, 7000) // ten 700-byte blocks
	// Ten 700-byte blocks; the limit is 10000 bytes, so copying all ten
	// twice is refused.
	for name, delta := range map[string][]byte{
		"empty":                nil,
		"block size too small": {0x10},
		"unknown op":           {0xbc, 0x05, 0x07},
		"literal past the end": {0xbc, 0x05, opLiteral, 0x05, 'a'},
		"copy past the basis":  {0xbc, 0x05, opCopy, 0x09, 0x02},
		"copy of zero blocks":  {0xbc, 0x05, opCopy, 0x01, 0x00},
		"past the limit":       {0xbc, 0x05, opCopy, 0x00, 0x0a, opCopy, 0x00, 0x0a},
		"truncated copy":       {0xbc, 0x05, opCopy, 0x01},
	} {
		if _, err := ApplyDelta(basis, delta, 10000); !errors.Is(err, ErrBadDelta) {
			t.Errorf("%s: %v, want ErrBadDelta", name, err)
		}
	}
}

// FuzzApplyDelta feeds arbitrary deltas to ApplyDelta against a fixed
// basis: it must never panic, and what it accepts it must rebuild within
// its output bound.
func FuzzApplyDelta(f *testing.F) {
	basis := noise(7, 7, 5000)
	target := mutate(rand.New(rand.NewPCG(7, 7)), basis)
	d, _, _ := ComputeDelta(context.Background(), basis, target)
	f.Add(d)
	f.Add([]byte{0xbc, 0x05, opCopy, 0x00, 0x07})
	f.Add([]byte{0xbc, 0x05, opLiteral, 0x03, 'a', 'b', 'c'})
	f.Fuzz(func(t *testing.T, delta []byte) {
		out, err := ApplyDelta(basis, delta, 64<<10)
		if err != nil {
			if !errors.Is(err, ErrBadDelta) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if len(out) > 64<<10 {
			t.Fatalf("%d-byte delta built %d bytes", len(delta), len(out))
		}
	})
}

// FuzzDeltaRoundTrip checks ComputeDelta against ApplyDelta on arbitrary
// pairs of files.
func FuzzDeltaRoundTrip(f *testing.F) {
	f.Add([]byte("hello world"), []byte("hello there world"))
	f.Add(bytes.Repeat([]byte("abcdefgh"), 300), bytes.Repeat([]byte("abcdefgh"), 301))
	f.Fuzz(func(t *testing.T, basis, target []byte) {
		delta, _, err := ComputeDelta(context.Background(), basis, target)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ApplyDelta(basis, delta, len(target))
		if err != nil || !bytes.Equal(got, target) {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}

// noise returns n incompressible bytes from the stream (seed, stream).
func noise(seed, stream uint64, n int) []byte {
	return randomBytes(rand.New(rand.NewPCG(seed, stream)), n)
}

// TestMatcherReuseMatchesAFreshOne checks that tables kept from one delta
// never leak into the next: a worker's reused matcher gives, for bases of
// every size in turn, exactly the delta a fresh one gives.
func TestMatcherReuseMatchesAFreshOne(t *testing.T) {
	ctx := context.Background()
	var m matcher
	var scratch []byte
	for seed := range uint64(60) {
		r := rand.New(rand.NewPCG(seed, 4))
		basis := textBytes(r, r.IntN(3<<20>>(seed%8)))
		target := mutate(r, basis)
		want, wst, err := ComputeDelta(ctx, basis, target)
		if err != nil {
			t.Fatal(err)
		}
		got, gst, err := m.appendDelta(ctx, scratch[:0], basis, target)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) || gst != wst {
			t.Fatalf("seed %d: a reused matcher gave a different delta (%d bytes, want %d)", seed, len(got), len(want))
		}
		scratch = got
	}
}

func BenchmarkComputeDelta(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	basis := textBytes(r, 4<<20)
	for _, tc := range []struct {
		name   string
		target []byte
	}{
		{"target=edited", mutate(r, basis)},
		{"target=unrelated", textBytes(rand.New(rand.NewPCG(3, 4)), len(basis))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var m matcher
			var out []byte
			b.SetBytes(int64(len(tc.target)))
			for b.Loop() {
				out, _, _ = m.appendDelta(context.Background(), out[:0], basis, tc.target)
			}
		})
	}
}

func BenchmarkChecksum(b *testing.B) {
	data := noise(1, 1, 64<<10)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		checksum(data)
	}
}

// The encoder's shape: an identical file is one copy op of every block;
// blocks moved at a block boundary are two runs, each rebuilt in its
// place; a target of exactly one block that the basis has is matched.
func TestDeltaEncodesRunsOfBlocks(t *testing.T) {
	ctx := context.Background()
	basis := noise(3, 3, 70000) // a hundred 700-byte blocks
	bs := BlockSize(len(basis))
	if len(basis)%bs != 0 {
		t.Fatalf("basis of %d bytes is not whole %d-byte blocks", len(basis), bs)
	}
	delta, st, err := ComputeDelta(ctx, basis, basis)
	if err != nil {
		t.Fatal(err)
	}
	// The block size header, then one op: copy, first block, count.
	want := binary.AppendUvarint(nil, uint64(bs))
	want = append(want, opCopy)
	want = binary.AppendUvarint(want, 0)
	want = binary.AppendUvarint(want, uint64(len(basis)/bs))
	if !bytes.Equal(delta, want) || st.Matched != len(basis) || st.Literal != 0 {
		t.Fatalf("identical file: delta %x, matched %d, literal %d; want %x", delta, st.Matched, st.Literal, want)
	}

	k := 30 * bs
	moved := append(append([]byte{}, basis[k:]...), basis[:k]...)
	delta, st, err = ComputeDelta(ctx, basis, moved)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ApplyDelta(basis, delta, 0)
	if err != nil || !bytes.Equal(got, moved) || st.Literal != 0 {
		t.Fatalf("blocks moved at a boundary: %v, rebuilt equal %t, literal %d", err, bytes.Equal(got, moved), st.Literal)
	}
	if ops := bytes.Count(delta, []byte{opCopy}); len(delta) > 16 || ops < 2 {
		t.Fatalf("blocks moved at a boundary: a %d-byte delta %x, want two copy runs", len(delta), delta)
	}

	one := basis[5*bs : 6*bs]
	if _, st, err := ComputeDelta(ctx, basis, one); err != nil || st.Matched != bs {
		t.Fatalf("a one-block target the basis holds: matched %d of %d (%v)", st.Matched, bs, err)
	}
}

// A cancelled context stops even a delta of a single block.
func TestComputeDeltaOfOneBlockStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	basis := noise(4, 4, 7000)
	bs := BlockSize(len(basis))
	if _, _, err := ComputeDelta(ctx, basis, basis[:bs]); !errors.Is(err, context.Canceled) {
		t.Fatalf("ComputeDelta of one block on a cancelled context: %v", err)
	}
}

// The decoder's edges: the largest block size is valid, and a literal op
// cut before its length, or claiming one byte more than follows, is not.
func TestApplyDeltaEdges(t *testing.T) {
	basis := noise(1, 1, 7000)
	if out, err := ApplyDelta(basis, binary.AppendUvarint(nil, maxBlockSize), 0); err != nil || len(out) != 0 {
		t.Errorf("a delta of the largest block size and no ops: %d bytes, %v", len(out), err)
	}
	for name, delta := range map[string][]byte{
		"literal without its length":       {0xbc, 0x05, opLiteral},
		"literal one byte longer than all": {0xbc, 0x05, opLiteral, 0x03, 'a', 'b'},
	} {
		if _, err := ApplyDelta(basis, delta, 0); !errors.Is(err, ErrBadDelta) {
			t.Errorf("%s: %v, want ErrBadDelta", name, err)
		}
	}
}

// A copy op cut inside its first block number says so.
func TestApplyDeltaNamesATruncatedCopy(t *testing.T) {
	basis := noise(1, 1, 7000)
	_, err := ApplyDelta(basis, []byte{0xbc, 0x05, opCopy, 0x81}, 0)
	if !errors.Is(err, ErrBadDelta) || !strings.Contains(err.Error(), "copy block") {
		t.Fatalf("copy cut in its block number: %v", err)
	}
}
