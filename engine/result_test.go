package engine

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestResultCodecRoundTrip(t *testing.T) {
	var c ResultCodec
	for _, r := range []Result{
		{Seq: 5, Index: 42, Written: 1000, Literal: 300, Matched: 700, Sum: [16]byte{1, 2, 3}},
		{Seq: 1 << 40, Status: NeedsRedo, Payload: PayloadReason, Data: []byte("checksum mismatch")},
		{Seq: 3, Status: Failed, Payload: PayloadReason, Data: bytes.Repeat([]byte("y"), 900)},
		{Seq: 9, Payload: PayloadLiteral, Written: 4, Data: []byte("data")},
		{Seq: 9, Payload: PayloadDelta, Written: 1 << 30, Matched: 1 << 30, Data: []byte{0xbc, 5}},
	} {
		enc := c.Append(nil, r)
		got, err := c.Decode(enc)
		if err != nil {
			t.Fatalf("Decode(%+v): %v", r, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip: got %+v, want %+v", got, r)
		}
		if c.Size(got) != c.Size(r) {
			t.Fatalf("Size changed across the round trip: %d -> %d", c.Size(r), c.Size(got))
		}
	}
}

func TestSuccessRecordIsAboutTheReferenceSize(t *testing.T) {
	// 13 fixed bytes (seq, index, status), three varints (written and
	// literal grow with the file; matched is 0), the checksum, and the
	// varint length of no data: 33 to 37 bytes, the reference's being 37.
	for _, tc := range []struct {
		written uint64
		want    int
	}{{0, 33}, {100, 33}, {4000, 35}, {1<<21 - 1, 37}} {
		r := Result{Seq: 1234, Index: 1234, Written: tc.written, Literal: tc.written}
		if n := len(ResultCodec{}.Append(nil, r)); n != tc.want || SumSize != 16 {
			t.Errorf("success record for a %d-byte file is %d bytes, want %d", tc.written, n, tc.want)
		}
	}
}

func TestResultDecodeRejects(t *testing.T) {
	good := ResultCodec{}.Append(nil, Result{Seq: 1, Payload: PayloadLiteral, Data: []byte("abc")})
	for name, b := range map[string][]byte{
		"empty":            nil,
		"short":            good[:12],
		"bad status":       append(append(append([]byte{}, good[:12]...), 0x70), good[13:]...),
		"data cut short":   good[:len(good)-1],
		"trailing garbage": append(append([]byte{}, good...), 0),
		"sum cut short":    good[:20],
		// Everything up to the data's length: 13 bytes, three one-byte
		// counters and the checksum.
		"data length missing": good[:13+3+SumSize],
	} {
		if _, err := (ResultCodec{}).Decode(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// FuzzDecodeResult checks that decoding never panics and that whatever
// decodes re-encodes to the same bytes.
func FuzzDecodeResult(f *testing.F) {
	f.Add(ResultCodec{}.Append(nil, Result{Seq: 7, Written: 10}))
	f.Add(ResultCodec{}.Append(nil, Result{Seq: 7, Status: Failed, Payload: PayloadReason, Data: []byte("no")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ResultCodec{}.Decode(b)
		if err != nil {
			return
		}
		if again := (ResultCodec{}).Append(nil, r); !bytes.Equal(again, b) {
			// Varints have one canonical form; a non-canonical one may
			// decode, so compare decoded forms instead.
			r2, err := ResultCodec{}.Decode(again)
			if err != nil || !reflect.DeepEqual(r, r2) {
				t.Fatalf("re-encoding does not round-trip: %v", err)
			}
		}
	})
}

// A result that does not decode says which part is missing, for whoever
// reads a corrupt spill file's error.
func TestResultDecodeSaysWhatIsWrong(t *testing.T) {
	good := ResultCodec{}.Append(nil, Result{Seq: 1, Payload: PayloadLiteral, Data: []byte("abc")})
	for _, tc := range []struct {
		b    []byte
		want string
	}{
		{good[:12], "want at least 13"},
		{good[:13], "counter varint"}, // the fixed part whole, no counters
		{good[:13+3+SumSize-1], "checksum truncated"},
		{good[:13+3+SumSize], "data length does not match"}, // the checksum whole, no length
	} {
		_, err := ResultCodec{}.Decode(tc.b)
		if !errors.Is(err, errBadResult) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%d bytes: %v, want %q", len(tc.b), err, tc.want)
		}
	}
}
