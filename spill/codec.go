package spill

import "bytes"

// Codec turns items into bytes and back, and estimates what they cost in
// memory. Items that never spill are never encoded.
type Codec[T any] interface {
	// Append appends the encoding of v to b and returns the extended slice.
	Append(b []byte, v T) []byte
	// Decode decodes an item from exactly the bytes Append wrote. b is only
	// valid during the call: Decode must copy what it keeps.
	Decode(b []byte) (T, error)
	// Size estimates the bytes v holds in memory; the budget is kept in
	// these units. It must not change across an encode/decode round trip.
	Size(v T) int
}

// Bytes is the Codec for []byte items; an item's size is its length.
type Bytes struct{}

// Append appends v.
func (Bytes) Append(b, v []byte) []byte { return append(b, v...) }

// Decode returns a copy of b.
func (Bytes) Decode(b []byte) ([]byte, error) { return bytes.Clone(b), nil }

// Size returns len(v).
func (Bytes) Size(v []byte) int { return len(v) }
