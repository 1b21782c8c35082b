package spill

import (
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzDecodeRecord feeds arbitrary bytes to the record decoder. With fixCRC
// set, the harness rewrites the checksum to match, so the fuzzer explores
// the checks behind it instead of stopping at the CRC. Seeds live in
// testdata/fuzz/FuzzDecodeRecord; `make fuzz` runs it for a bounded time.
func FuzzDecodeRecord(f *testing.F) {
	long := make([]byte, 300)
	for i := range long {
		long[i] = byte(i % 7)
	}
	for _, rec := range [][]byte{
		buildRecord([]entry{{0, []byte("success")}}, Compression{}),
		buildRecord([]entry{{42, long}, {41, []byte("x")}}, Compression{}),
		buildRecord([]entry{{42, long}, {41, long}}, Compression{Method: Zstd, Level: 3}),
	} {
		f.Add(rec, false)
		f.Add(rec, true)
	}
	f.Fuzz(func(t *testing.T, data []byte, fixCRC bool) {
		if fixCRC && len(data) >= headerSize {
			if stored := binary.LittleEndian.Uint32(data[12:]); uint64(stored) <= uint64(len(data)-headerSize) {
				p := data[headerSize : headerSize+int(stored)]
				binary.LittleEndian.PutUint32(data[20:], recordCRC(data, p))
			}
		}
		entries, n, err := decodeRecord(data, 1234)
		if err != nil {
			var ce *CorruptRecordError
			var uc *UnsupportedCompressionError
			if !errors.As(err, &ce) && !errors.As(err, &uc) {
				t.Fatalf("untyped decode error %T: %v", err, err)
			}
			if ce != nil && ce.Offset != 1234 {
				t.Fatalf("corrupt record offset %d, want 1234", ce.Offset)
			}
			return
		}
		if n < headerSize || n > len(data) {
			t.Fatalf("record size %d outside [%d, %d]", n, headerSize, len(data))
		}
		if got := binary.LittleEndian.Uint32(data[8:]); int(got) != len(entries) {
			t.Fatalf("%d entries, header says %d", len(entries), got)
		}
		// What decodes must encode back, raw and compressed as the
		// writer does, to a record that decodes the same.
		for _, c := range []Compression{{}, {Method: Zstd, Level: 1}} {
			again, _, err := decodeRecord(buildRecord(entries, c), 0)
			if err != nil || !sameEntries(again, entries) {
				t.Fatalf("re-encoded record (%v) does not round-trip: %v", c, err)
			}
		}
	})
}
