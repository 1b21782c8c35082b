package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"
)

// Status is how a work item ended.
type Status uint8

const (
	// Success: the file was processed.
	Success Status = iota
	// NeedsRedo: the file must be sent again (the reason says why).
	NeedsRedo
	// Failed: the file could not be processed (the reason says why).
	Failed
)

func (s Status) String() string {
	switch s {
	case Success:
		return "success"
	case NeedsRedo:
		return "needs-redo"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("status(%d)", s)
}

// Payload says what Result.Data holds, and so how the consumer commits it.
type Payload uint8

const (
	// PayloadNone: the worker applied the file itself; the result is a
	// status record (the common rsync case).
	PayloadNone Payload = iota
	// PayloadReason: Data is the reason of a redo or failure.
	PayloadReason
	// PayloadLiteral: Data is the whole file.
	PayloadLiteral
	// PayloadDelta: Data is a delta against the item's basis.
	PayloadDelta
)

// SumSize is the size of the strong checksums results and items carry.
const SumSize = 16

// Result is what a worker produces for one item and the consumer commits.
type Result struct {
	Seq     uint64
	Index   uint32 // the file's index in its list
	Status  Status
	Payload Payload
	Written uint64        // size of the file the result stands for
	Literal uint64        // bytes that travel literally
	Matched uint64        // bytes supplied by the basis
	Sum     [SumSize]byte // strong checksum of the file as the worker saw it
	Data    []byte        // see Payload
}

// resultOverhead is what a Result costs in memory beyond its Data.
const resultOverhead = int(unsafe.Sizeof(Result{}))

// ResultCodec encodes results for the spill buffer:
//
//	8  seq, little-endian
//	4  index, little-endian
//	1  status << 4 | payload
//	   uvarint written, literal, matched
//	16 sum
//	   uvarint len(data), data
//
// A success record without data is 33 to 37 bytes for files under 2 MiB
// (35 for most of the mix workload), about the 37 of the reference's
// fixed-width DeltaResult.
type ResultCodec struct{}

// Append appends the encoding of r.
func (ResultCodec) Append(b []byte, r Result) []byte {
	b = binary.LittleEndian.AppendUint64(b, r.Seq)
	b = binary.LittleEndian.AppendUint32(b, r.Index)
	b = append(b, byte(r.Status)<<4|byte(r.Payload))
	b = binary.AppendUvarint(b, r.Written)
	b = binary.AppendUvarint(b, r.Literal)
	b = binary.AppendUvarint(b, r.Matched)
	b = append(b, r.Sum[:]...)
	b = binary.AppendUvarint(b, uint64(len(r.Data)))
	return append(b, r.Data...)
}

// errBadResult reports an encoded result that does not decode.
var errBadResult = errors.New("bad result encoding")

// Decode decodes a result from exactly the bytes Append wrote. Data is a
// copy.
func (ResultCodec) Decode(b []byte) (Result, error) {
	var r Result
	if len(b) < 13 {
		return r, fmt.Errorf("%w: %d bytes, want at least 13", errBadResult, len(b))
	}
	r.Seq = binary.LittleEndian.Uint64(b)
	r.Index = binary.LittleEndian.Uint32(b[8:])
	r.Status, r.Payload = Status(b[12]>>4), Payload(b[12]&0xf)
	if r.Status > Failed || r.Payload > PayloadDelta {
		return r, fmt.Errorf("%w: status/payload byte 0x%02x", errBadResult, b[12])
	}
	rest := b[13:]
	for _, f := range []*uint64{&r.Written, &r.Literal, &r.Matched} {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return r, fmt.Errorf("%w: counter varint", errBadResult)
		}
		*f, rest = v, rest[n:]
	}
	if len(rest) < SumSize {
		return r, fmt.Errorf("%w: checksum truncated", errBadResult)
	}
	copy(r.Sum[:], rest)
	rest = rest[SumSize:]
	size, n := binary.Uvarint(rest)
	if n <= 0 || size != uint64(len(rest)-n) {
		return r, fmt.Errorf("%w: data length does not match the bytes left", errBadResult)
	}
	if size > 0 {
		r.Data = append([]byte(nil), rest[n:]...)
	}
	return r, nil
}

// Size is the result's memory footprint: the struct and its data.
func (ResultCodec) Size(r Result) int { return resultOverhead + len(r.Data) }
