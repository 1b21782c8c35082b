package spill

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Record layout (docs/design/spill-format.md is the full description):
//
//	offset size  field
//	0      4     magic "SPL1"
//	4      1     codec tag: 0 raw, 1 zstd
//	5      3     reserved, zero
//	8      4     entry count
//	12     4     stored length: payload bytes that follow the header
//	16     4     raw length: payload bytes after decompression
//	20     4     CRC-32C (Castagnoli) of bytes 0..19 and the stored payload
//	24     ...   payload
//
// The raw payload is count entries, each uvarint(seq) uvarint(len) data, in
// strictly descending sequence order (eviction takes the highest first), so
// a record cannot name an item twice. Fixed-size integers are little-endian.
const (
	recordMagic = "SPL1"
	headerSize  = 24

	tagRaw  byte = 0
	tagZstd byte = 1

	// MaxRecordSize bounds a record's raw payload. The writer splits larger
	// batches into several records; the reader rejects larger claims before
	// allocating anything for them.
	MaxRecordSize = 64 << 20

	// minCompressSize is the raw payload size below which zstd is not tried:
	// a zstd frame costs about a dozen bytes of its own, so small records
	// (the 37-byte success result dominates real workloads) never shrink.
	minCompressSize = 64
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// header is a decoded record header.
type header struct {
	tag    byte
	count  uint32
	stored uint32
	raw    uint32
	crc    uint32
}

// entry is one item inside a record. data aliases the decode buffer.
type entry struct {
	seq  uint64
	data []byte
}

// appendEntry appends one entry of a raw payload.
func appendEntry(payload []byte, seq uint64, data []byte) []byte {
	payload = binary.AppendUvarint(payload, seq)
	payload = binary.AppendUvarint(payload, uint64(len(data)))
	return append(payload, data...)
}

// sealRecord makes rec a record of count entries: rec holds headerSize
// reserved bytes, then the entries' raw payload. Where c asks for zstd and
// the payload is long enough to gain, it compresses it into zbuf (reused)
// and keeps whichever is smaller. It returns the record (rec or zbuf) and
// zbuf for the next call.
func sealRecord(rec, zbuf []byte, c Compression, count int) (out, zbufNext []byte) {
	raw := len(rec) - headerSize
	tag, out := tagRaw, rec
	if c.Method == Zstd && raw >= minCompressSize {
		zbuf = encoderFor(c.Level).EncodeAll(rec[headerSize:], grow(zbuf, headerSize))
		if len(zbuf)-headerSize < raw {
			tag, out = tagZstd, zbuf
		}
	}
	finishRecord(out, tag, count, raw)
	return out, zbuf
}

// finishRecord fills in the header of rec, which holds headerSize reserved
// bytes followed by the stored payload.
func finishRecord(rec []byte, tag byte, count, raw int) {
	h := rec[:headerSize]
	copy(h, recordMagic)
	h[4] = tag
	h[5], h[6], h[7] = 0, 0, 0
	binary.LittleEndian.PutUint32(h[8:], uint32(count))
	binary.LittleEndian.PutUint32(h[12:], uint32(len(rec)-headerSize))
	binary.LittleEndian.PutUint32(h[16:], uint32(raw))
	binary.LittleEndian.PutUint32(h[20:], recordCRC(h, rec[headerSize:]))
}

// recordCRC is the checksum of a record: its header up to the CRC field,
// then its stored payload.
func recordCRC(header, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(header[:20], castagnoli), castagnoli, payload)
}

// parseHeader decodes the header in b, which must be headerSize long, of the
// record at off. It checks everything that can be checked without the
// payload, so a bogus length is refused before anything is allocated for it.
func parseHeader(b []byte, off int64) (header, error) {
	if len(b) < headerSize {
		return header{}, corrupt(off, "truncated header: %d of %d bytes", len(b), headerSize)
	}
	if string(b[:4]) != recordMagic {
		return header{}, corrupt(off, "bad magic %q", b[:4])
	}
	if b[5]|b[6]|b[7] != 0 {
		return header{}, corrupt(off, "reserved header bytes are not zero")
	}
	h := header{
		tag:    b[4],
		count:  binary.LittleEndian.Uint32(b[8:]),
		stored: binary.LittleEndian.Uint32(b[12:]),
		raw:    binary.LittleEndian.Uint32(b[16:]),
		crc:    binary.LittleEndian.Uint32(b[20:]),
	}
	switch {
	case h.raw > MaxRecordSize:
		return header{}, corrupt(off, "raw length %d exceeds the %d-byte record limit", h.raw, MaxRecordSize)
	case h.stored > MaxRecordSize:
		return header{}, corrupt(off, "stored length %d exceeds the %d-byte record limit", h.stored, MaxRecordSize)
	case h.count == 0:
		return header{}, corrupt(off, "record holds no entries")
	case uint64(h.count)*2 > uint64(h.raw):
		// Every entry takes at least two bytes (two one-byte varints).
		return header{}, corrupt(off, "%d entries cannot fit in %d payload bytes", h.count, h.raw)
	}
	return h, nil
}

// decodePayload checks the stored payload p of the record at off against
// the header hdr (whose raw bytes are hb) and appends its entries to
// dst[:0]. The entries alias scratch, p or both; scratch is grown as
// needed and returned.
func (h header) decodePayload(dst []entry, hb, p []byte, off int64, scratch []byte) ([]entry, []byte, error) {
	if len(p) != int(h.stored) {
		return nil, scratch, corrupt(off, "payload is %d bytes, header says %d", len(p), h.stored)
	}
	if crc := recordCRC(hb, p); crc != h.crc {
		return nil, scratch, corrupt(off, "checksum mismatch: computed %08x, header says %08x", crc, h.crc)
	}
	var raw []byte
	switch h.tag {
	case tagRaw:
		if h.raw != h.stored {
			return nil, scratch, corrupt(off, "raw record with raw length %d but stored length %d", h.raw, h.stored)
		}
		raw = p
	case tagZstd:
		var err error
		scratch, err = decompress(scratch[:0], p, int(h.raw))
		if err != nil {
			return nil, scratch, corrupt(off, "zstd: %v", err)
		}
		raw = scratch
	default:
		return nil, scratch, &UnsupportedCompressionError{Tag: h.tag, Offset: off}
	}
	entries, err := parseEntries(dst, raw, int(h.count))
	if err != nil {
		return nil, scratch, corrupt(off, "%v", err)
	}
	return entries, scratch, nil
}

// parseEntries splits a raw payload into exactly count entries, appended
// to dst[:0].
func parseEntries(dst []entry, raw []byte, count int) ([]entry, error) {
	// count is checked against the payload only entry by entry: start
	// small rather than trust it with an allocation.
	entries := dst[:0]
	if cap(entries) == 0 {
		entries = make([]entry, 0, min(count, 1024))
	}
	rest := raw
	for i := range count {
		seq, n := binary.Uvarint(rest)
		if n <= 0 {
			return nil, fmt.Errorf("entry %d: bad sequence number varint", i)
		}
		if i > 0 && seq >= entries[i-1].seq {
			return nil, fmt.Errorf("entry %d: seq %d does not descend from %d", i, seq, entries[i-1].seq)
		}
		rest = rest[n:]
		size, n := binary.Uvarint(rest)
		if n <= 0 {
			return nil, fmt.Errorf("entry %d: bad length varint", i)
		}
		rest = rest[n:]
		if size > uint64(len(rest)) {
			return nil, fmt.Errorf("entry %d: length %d exceeds the %d bytes left", i, size, len(rest))
		}
		entries = append(entries, entry{seq: seq, data: rest[:size:size]})
		rest = rest[size:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%d trailing bytes after %d entries", len(rest), count)
	}
	return entries, nil
}

// decodeRecord decodes the record at the start of b, which was found at
// offset off, and returns its entries and its size in bytes.
func decodeRecord(b []byte, off int64) ([]entry, int, error) {
	h, err := parseHeader(b, off)
	if err != nil {
		return nil, 0, err
	}
	end := headerSize + int(h.stored)
	if end > len(b) {
		return nil, 0, corrupt(off, "stored length %d runs past the %d bytes available", h.stored, len(b)-headerSize)
	}
	entries, _, err := h.decodePayload(nil, b[:headerSize], b[headerSize:end], off, nil)
	if err != nil {
		return nil, 0, err
	}
	return entries, end, nil
}

func corrupt(off int64, format string, args ...any) error {
	return &CorruptRecordError{Offset: off, Reason: fmt.Sprintf(format, args...)}
}
