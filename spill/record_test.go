package spill

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// buildRecord returns a finished record holding entries (which must be in
// descending sequence order), compressed with c where that pays.
// buildRecord encodes entries as the buffer's writer does: appendEntry,
// then sealRecord.
func buildRecord(entries []entry, c Compression) []byte {
	rec := make([]byte, headerSize)
	for _, e := range entries {
		rec = appendEntry(rec, e.seq, e.data)
	}
	out, _ := sealRecord(rec, nil, c, len(entries))
	return out
}

func sameEntries(a, b []entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].seq != b[i].seq || !bytes.Equal(a[i].data, b[i].data) {
			return false
		}
	}
	return true
}

func TestRecordRoundTrip(t *testing.T) {
	long := []byte(strings.Repeat("needs redo: checksum mismatch; ", 20))
	for _, tc := range []struct {
		name    string
		entries []entry
		comp    Compression
		wantTag byte
	}{
		{"one small raw item", []entry{{7, []byte("ok")}}, Compression{}, tagRaw},
		{"empty item", []entry{{0, nil}}, Compression{}, tagRaw},
		{"batch raw", []entry{{300, long}, {299, []byte("b")}, {5, []byte("c")}}, Compression{}, tagRaw},
		{"batch zstd", []entry{{1 << 40, long}, {300, long}, {299, long}}, Compression{Method: Zstd, Level: 3}, tagZstd},
		{"zstd below 64 bytes stays raw", []entry{{1, []byte("thirty-seven bytes of success record.")}}, Compression{Method: Zstd, Level: 19}, tagRaw},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := buildRecord(tc.entries, tc.comp)
			if rec[4] != tc.wantTag {
				t.Fatalf("tag %d, want %d", rec[4], tc.wantTag)
			}
			// Trailing bytes (the next record) are not part of this one.
			got, n, err := decodeRecord(append(rec, 0xEE, 0xEE), 0)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if n != len(rec) || !sameEntries(got, tc.entries) {
				t.Fatalf("decoded %d bytes %v, want %d bytes %v", n, got, len(rec), tc.entries)
			}
		})
	}
}

func TestRecordDecodeRejects(t *testing.T) {
	good := buildRecord([]entry{{9, []byte("nine")}, {3, []byte("three")}}, Compression{})
	// mutate returns a copy of good changed by f, with the CRC recomputed
	// when fix is set so the check under test is not the checksum.
	mutate := func(fix bool, f func(r []byte) []byte) []byte {
		r := f(bytes.Clone(good))
		if fix && len(r) >= headerSize {
			binary.LittleEndian.PutUint32(r[20:], recordCRC(r, r[headerSize:]))
		}
		return r
	}
	put32 := func(at int, v uint32) func([]byte) []byte {
		return func(r []byte) []byte { binary.LittleEndian.PutUint32(r[at:], v); return r }
	}
	for _, tc := range []struct {
		name, reason string
		rec          []byte
	}{
		{"empty", "truncated header", nil},
		{"short header", "truncated header", good[:10]},
		{"bad magic", "magic", mutate(true, func(r []byte) []byte { r[0] = 'X'; return r })},
		{"reserved bytes set", "reserved", mutate(true, func(r []byte) []byte { r[6] = 1; return r })},
		{"payload cut short", "runs past", good[:len(good)-1]},
		{"flipped payload bit", "checksum", mutate(false, func(r []byte) []byte { r[headerSize+2] ^= 1; return r })},
		{"zero entries", "no entries", mutate(true, put32(8, 0))},
		{"more entries than bytes", "cannot fit", mutate(true, put32(8, 1000))},
		{"one entry more than the bytes hold", "cannot fit", mutate(true, put32(8, uint32(len(good)-headerSize)/2+1))},
		{"raw length past the limit", "limit", mutate(true, put32(16, MaxRecordSize+1))},
		{"stored length past the limit", "limit", mutate(true, put32(12, 1<<31))},
		{"raw length differs from stored", "raw record", mutate(true, put32(16, uint32(len(good)-headerSize+4)))},
		{"count lower than the entries", "trailing", mutate(true, put32(8, 1))},
		{"count higher than the entries", "entry 2: bad sequence number", mutate(true, put32(8, 3))},
		{"entry cut after its sequence number", "entry 2: bad length", mutate(true, func(r []byte) []byte {
			r = append(r, 1) // seq 1, and nothing after it
			n := uint32(len(r) - headerSize)
			binary.LittleEndian.PutUint32(r[8:], 3)
			binary.LittleEndian.PutUint32(r[12:], n)
			binary.LittleEndian.PutUint32(r[16:], n)
			return r
		})},
		{"entries not descending", "descend", buildRecord([]entry{{3, nil}, {9, nil}}, Compression{})},
		{"duplicate sequence", "descend", buildRecord([]entry{{3, nil}, {3, nil}}, Compression{})},
		{"entry length past the payload", "exceeds", mutate(true, func(r []byte) []byte { r[headerSize+1] = 100; return r })},
		{"zstd frame that is not zstd", "zstd", mutate(true, func(r []byte) []byte { r[4] = tagZstd; return r })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeRecord(tc.rec, 4096)
			ce := mustErrAs[*CorruptRecordError](t, err)
			if ce.Offset != 4096 || !containsFold(ce.Reason, tc.reason) {
				t.Fatalf("%v: want offset 4096 and a reason mentioning %q", err, tc.reason)
			}
		})
	}
	unknown := mutate(true, func(r []byte) []byte { r[4] = 0x42; return r })
	if uc := mustErrAs[*UnsupportedCompressionError](t, second(decodeRecord(unknown, 0))); uc.Tag != 0x42 {
		t.Fatalf("tag 0x%02x, want 0x42", uc.Tag)
	}
}

func second[A, B any](_ A, _ B, err error) error { return err }

func TestRecordDecodeDoesNotTrustLengths(t *testing.T) {
	// A header claiming the largest payload the format allows, with almost
	// nothing behind it, must be refused without allocating for the claim.
	rec := buildRecord([]entry{{1, []byte("x")}}, Compression{})
	binary.LittleEndian.PutUint32(rec[12:], MaxRecordSize)
	binary.LittleEndian.PutUint32(rec[16:], MaxRecordSize)
	binary.LittleEndian.PutUint32(rec[8:], MaxRecordSize/2)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 100 {
		if _, _, err := decodeRecord(rec, 0); err == nil {
			t.Fatal("decoded a record whose lengths run past the data")
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("100 bogus decodes allocated %d bytes", grew)
	}
}

// The writer keeps zstd only when it makes the payload strictly smaller:
// a frame exactly as long as the raw payload is stored raw, one a byte
// shorter is stored compressed. The payloads are found by search (items
// of a run of zeros, which zstd shrinks, then random bytes, which it
// cannot), so the test does not depend on the encoder's exact sizes.
func TestSealRecordKeepsZstdOnlyWhenSmaller(t *testing.T) {
	zstd := Compression{Method: Zstd, Level: DefaultZstdLevel}
	r := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 256)
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	found := map[int]bool{}
	for n := 64; n <= len(noise) && len(found) < 2; n++ {
		for zeros := 0; zeros < n && len(found) < 2; zeros++ {
			item := append(make([]byte, zeros), noise[zeros:n]...)
			rec := appendEntry(make([]byte, headerSize), 7, item)
			raw := len(rec) - headerSize
			saved := raw - len(encoderFor(zstd.Level).EncodeAll(rec[headerSize:], nil))
			if saved != 0 && saved != 1 || found[saved] {
				continue
			}
			found[saved] = true
			out, _ := sealRecord(rec, nil, zstd, 1)
			if want := map[int]byte{0: tagRaw, 1: tagZstd}[saved]; out[4] != want {
				t.Errorf("a %d-byte payload zstd shrinks by %d bytes: tag %d, want %d", raw, saved, out[4], want)
			}
			if got, _, err := decodeRecord(out, 0); err != nil || len(got) != 1 || !bytes.Equal(got[0].data, item) {
				t.Errorf("the sealed record does not decode to its item: %v", err)
			}
		}
	}
	if len(found) != 2 {
		t.Fatalf("no payload found that zstd shrinks by exactly 0 and 1 bytes (found %v)", found)
	}
}
