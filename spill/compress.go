package spill

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// CompressionMethod selects the codec applied to spill record payloads.
type CompressionMethod uint8

const (
	// NoCompression stores payloads as they are.
	NoCompression CompressionMethod = iota
	// Zstd compresses payloads with zstd.
	Zstd
)

// DefaultZstdLevel is the level "zstd" without a number means, as in the
// zstd command-line tool.
const DefaultZstdLevel = 3

// Compression is the payload codec of a policy. The zero value is no
// compression. Level is a zstd level, 1 (fastest) to 22 (smallest); the
// encoder maps it onto the nearest of its own speed steps.
//
// Whatever the policy, a record whose raw payload is under 64 bytes, or
// that does not shrink, is stored raw: every record carries its own codec
// tag, so the reader never needs to know the policy.
type Compression struct {
	Method CompressionMethod
	Level  int
}

// String returns the form ParseCompression reads: "none" or "zstd:N".
func (c Compression) String() string {
	switch c.Method {
	case NoCompression:
		return "none"
	case Zstd:
		return "zstd:" + strconv.Itoa(c.Level)
	}
	return fmt.Sprintf("compression(%d)", c.Method)
}

func (c Compression) validate() error {
	switch c.Method {
	case NoCompression:
		return nil
	case Zstd:
		if c.Level < 1 || c.Level > 22 {
			return fmt.Errorf("zstd level %d out of range; use 1 (fastest) to 22 (smallest)", c.Level)
		}
		return nil
	}
	return fmt.Errorf("unknown compression method %d", c.Method)
}

// ParseCompression reads "none", "zstd" (level 3) or "zstd:N" with N from 1
// to 22.
func ParseCompression(s string) (Compression, error) {
	name, level, hasLevel := strings.Cut(strings.ToLower(strings.TrimSpace(s)), ":")
	switch {
	case name == "none" && !hasLevel:
		return Compression{}, nil
	case name == "zstd" && !hasLevel:
		return Compression{Method: Zstd, Level: DefaultZstdLevel}, nil
	case name == "zstd":
		n, err := strconv.Atoi(level)
		if err != nil {
			return Compression{}, fmt.Errorf("compression %q: level %q is not a number; use zstd:1 to zstd:22", s, level)
		}
		c := Compression{Method: Zstd, Level: n}
		if err := c.validate(); err != nil {
			return Compression{}, fmt.Errorf("compression %q: %v", s, err)
		}
		return c, nil
	}
	return Compression{}, fmt.Errorf("compression %q not recognised; use none, zstd or zstd:N", s)
}

// Encoders and the decoder are shared: EncodeAll and DecodeAll are safe for
// concurrent use, and building them allocates their tables. The record CRC
// already covers the payload, so zstd's own checksum is turned off.
var (
	encodersMu sync.Mutex
	encoders   = map[zstd.EncoderLevel]*zstd.Encoder{}

	decoder = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(MaxRecordSize),
			zstd.WithDecodeAllCapLimit(true))
		if err != nil {
			panic(fmt.Sprintf("spill: zstd decoder with fixed options: %v", err))
		}
		return d
	})
)

func encoderFor(level int) *zstd.Encoder {
	l := zstd.EncoderLevelFromZstd(level)
	encodersMu.Lock()
	defer encodersMu.Unlock()
	e := encoders[l]
	if e == nil {
		var err error
		e, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(l), zstd.WithEncoderCRC(false))
		if err != nil {
			panic(fmt.Sprintf("spill: zstd encoder with fixed options: %v", err))
		}
		encoders[l] = e
	}
	return e
}

// decompress decompresses the zstd data p into dst's storage (grown if
// needed), which must come out exactly raw bytes long. The decoder writes
// no more than raw bytes whatever p claims, and raw itself was bounded by
// MaxRecordSize and covered by the record checksum before it got here.
func decompress(dst, p []byte, raw int) ([]byte, error) {
	if cap(dst) < raw {
		dst = make([]byte, 0, raw)
	}
	out, err := decoder().DecodeAll(p, dst[:0:raw])
	if err != nil {
		return dst, err
	}
	if len(out) != raw {
		return dst, fmt.Errorf("decompressed to %d bytes, header says %d", len(out), raw)
	}
	return out, nil
}
