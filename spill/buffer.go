package spill

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// hotZoneMax is the most sequence numbers above the delivery cursor that
// eviction leaves alone. The zone shrinks to half the buffered items when
// few are buffered, and never below one, so a tight budget can always evict.
const hotZoneMax = 16

// noCeiling is a scan bound above every sequence number.
const noCeiling = ^uint64(0)

// keepScratch is the largest scratch buffer a Buffer keeps between calls.
// Larger ones (a big batch) are dropped after use, so a buffer's own
// overhead does not stay at the size of its largest record.
const keepScratch = 1 << 20

// Buffer is a reorder buffer that spills to disk to stay within a byte
// budget. Items go in by sequence number with Insert or ForceInsert, in any
// order, and come out strictly in sequence from Next or DrainReady,
// reloaded from disk when they were spilled.
//
// After each insert, if the estimated bytes in memory exceed the threshold
// (or the process RSS exceeds Policy.RSSLimit), the buffer evicts the items
// with the highest sequence numbers, sparing a hot zone just above the
// delivery cursor. See the package documentation for the failure contract.
//
// A Buffer is not safe for concurrent use. Close releases its spill file.
type Buffer[T any] struct {
	ring      *Ring[T]
	codec     Codec[T]
	policy    Policy
	threshold int64
	fs        FS
	rss       func() (int64, error)
	mem       int64 // estimated bytes of the items in ring

	// Disk state. index, records and writePos change only after a write
	// commits.
	file      File   // nil until the first spill
	path      string // the spill directory, or the temp dir of the spooled backend
	writePos  int64
	index     map[uint64]int64  // spilled sequence number -> its record's offset
	records   map[int64]*record // records that still hold live items, by offset
	order     []int64           // offsets of records in write order: ascending
	recreated bool              // the one directory re-creation is spent
	closed    bool

	stats Stats

	// Scratch space reused between calls.
	item    []byte // one encoded item
	rec     []byte // a record being built: header space, then raw payload
	zrec    []byte // the same record compressed
	hdr     [headerSize]byte
	payload []byte // a record's payload being reloaded
	inflate []byte // its decompressed form
	taken   []taken[T]
}

// record is what the buffer remembers of a record on disk.
type record struct {
	size int64 // header and stored payload
	live int   // entries the index still points at
}

// taken is an item out of the ring on its way to disk, or back.
type taken[T any] struct {
	seq uint64
	v   T
}

// New returns an empty buffer whose delivery cursor starts at 0. Insert
// accepts sequence numbers up to capacity-1 ahead of the cursor. With
// Policy.Dir set (and disk allowed) New creates the directory, mode 0700.
func New[T any](capacity int, codec Codec[T], p Policy) (*Buffer[T], error) {
	if capacity < 1 {
		return nil, fmt.Errorf("spill buffer capacity %d; want at least 1", capacity)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	b := &Buffer[T]{
		ring:      NewRing[T](capacity),
		codec:     codec,
		policy:    p,
		threshold: p.threshold(),
		fs:        p.fs(),
		rss:       processRSS.get,
		path:      p.Dir,
		index:     make(map[uint64]int64),
		records:   make(map[int64]*record),
	}
	b.stats.Threshold = b.threshold
	switch {
	case p.InMemoryOnly:
	case p.Dir == "":
		b.path = os.TempDir()
	default:
		if err := b.fs.MkdirAll(SiteDirCreate, p.Dir, 0o700); err != nil {
			return nil, &IOError{Site: SiteDirCreate, Path: p.Dir, Offset: -1, Err: err}
		}
	}
	return b, nil
}

// Insert buffers v under seq, then evicts if memory is over budget. It
// returns a [*CapacityError] if seq is Cap or more ahead of NextExpected, and
// [ErrAlreadyDelivered] if seq was delivered; in both cases v is not kept.
// A spill failure is returned after v is buffered: v and everything else
// stay deliverable.
func (b *Buffer[T]) Insert(seq uint64, v T) error { return b.insert(seq, v, false) }

// ForceInsert is Insert without the capacity bound: the ring grows to take
// v. The pipeline uses it when it cannot drain further and must not block.
func (b *Buffer[T]) ForceInsert(seq uint64, v T) error { return b.insert(seq, v, true) }

func (b *Buffer[T]) insert(seq uint64, v T, force bool) error {
	if b.closed {
		return ErrClosed
	}
	old, replaced, err := b.ring.put(seq, v, force)
	if err != nil {
		return err
	}
	if replaced {
		b.mem -= int64(b.codec.Size(old))
	}
	b.mem += int64(b.codec.Size(v))
	b.forget(seq) // a spilled copy of seq is stale now
	err = b.enforceBudget()
	b.stats.PeakMemory = max(b.stats.PeakMemory, b.mem)
	return err
}

// Next removes and returns the item due for delivery, reloading it from
// disk if it was spilled. ok is false when that item has not arrived yet.
// On error nothing is delivered and the buffer is as it was, except that a
// reloaded record stays in memory.
func (b *Buffer[T]) Next() (v T, ok bool, err error) {
	if b.closed {
		return v, false, ErrClosed
	}
	if off, spilled := b.spilled(b.ring.NextExpected()); spilled {
		if err := b.reload(off); err != nil {
			return v, false, err
		}
		if b.policy.Reclaim == RespillAfterRead && b.mem > b.threshold {
			if err := b.evict(false); err != nil {
				return v, false, err
			}
		}
	}
	v, ok = b.ring.Next()
	if ok {
		b.mem -= int64(b.codec.Size(v))
	}
	b.stats.PeakMemory = max(b.stats.PeakMemory, b.mem)
	return v, ok, nil
}

// DrainReady appends to dst every item deliverable now, in sequence, and
// returns the extended slice. On error it returns what it drained so far
// along with the error, so nothing delivered is lost.
func (b *Buffer[T]) DrainReady(dst []T) ([]T, error) {
	for {
		v, ok, err := b.Next()
		if err != nil || !ok {
			return dst, err
		}
		dst = append(dst, v)
	}
}

// NextExpected returns the sequence number due for delivery.
func (b *Buffer[T]) NextExpected() uint64 { return b.ring.NextExpected() }

// Len returns the number of buffered items, in memory and on disk.
func (b *Buffer[T]) Len() int { return b.ring.Len() + len(b.index) }

// Cap returns the capacity bound Insert enforces.
func (b *Buffer[T]) Cap() int { return b.ring.Cap() }

// Stats returns a snapshot of the buffer's counters.
func (b *Buffer[T]) Stats() Stats {
	s := b.stats
	s.SpilledItems = len(b.index)
	s.SpilledRecords = len(b.records)
	s.MemoryUsed = b.mem
	return s
}

// Close releases the spill file. Items still buffered are dropped. Close
// reports the close error: on some filesystems that is where a failed
// write first shows.
func (b *Buffer[T]) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.index, b.records, b.order = nil, nil, nil
	if b.file == nil {
		return nil
	}
	f := b.file
	b.file = nil
	if err := f.Close(SiteBackendClose); err != nil {
		return b.ioErr(SiteBackendClose, -1, err)
	}
	return nil
}

// enforceBudget evicts if memory is over budget or the RSS trigger fired.
func (b *Buffer[T]) enforceBudget() error {
	forced := b.rssOver()
	if !forced && b.mem <= b.threshold {
		return nil
	}
	return b.evict(forced)
}

func (b *Buffer[T]) rssOver() bool {
	if b.policy.RSSLimit <= 0 {
		return false
	}
	// An unreadable RSS leaves the byte budget in charge.
	n, err := b.rss()
	return err == nil && n > b.policy.RSSLimit
}

// evict moves items above the hot zone to disk, highest sequence first.
// forced (the RSS trigger) demands at least one item even under budget.
func (b *Buffer[T]) evict(forced bool) error {
	if b.policy.InMemoryOnly {
		return fmt.Errorf("%w: %d bytes in memory, threshold %d", ErrSpillDisabled, b.mem, b.threshold)
	}
	n := b.ring.Len()
	if n == 0 {
		return nil
	}
	hot := max(min(hotZoneMax, n/2), 1)
	floor := b.ring.NextExpected() + uint64(hot)
	var wrote bool
	var err error
	if b.policy.Granularity == PerItem {
		wrote, err = b.evictPerItem(floor, forced)
	} else {
		wrote, err = b.evictBatch(floor)
	}
	if wrote {
		b.stats.Activations++
	}
	b.trimScratch()
	return err
}

// evictPerItem writes one record per item until memory is under budget.
func (b *Buffer[T]) evictPerItem(floor uint64, forced bool) (wrote bool, err error) {
	ceiling, skipped := noCeiling, false
	for b.mem > b.threshold || (forced && !wrote) {
		seq, ok := b.ring.highest(floor, ceiling)
		if !ok {
			break
		}
		v, _ := b.ring.take(seq)
		b.taken = append(b.taken[:0], taken[T]{seq, v})
		b.rec = b.appendItem(grow(b.rec, headerSize), seq, v)
		if len(b.rec)-headerSize > MaxRecordSize {
			b.restore(b.taken) // too big to spill: leave it, evict below it
			ceiling, skipped = seq, true
			continue
		}
		if err := b.commit(SiteRecordWrite, b.rec, b.taken); err != nil {
			b.restore(b.taken)
			return wrote, err
		}
		wrote = true
	}
	return wrote, b.tooLarge(skipped)
}

// tooLarge reports an eviction that left memory over budget because items
// too large for a record could not go.
func (b *Buffer[T]) tooLarge(skipped bool) error {
	if skipped && b.mem > b.threshold {
		return fmt.Errorf("%w (over %d bytes): %d bytes stay in memory, threshold %d", ErrRecordTooLarge, MaxRecordSize, b.mem, b.threshold)
	}
	return nil
}

// evictBatch writes every item above floor in one record, or in several
// when they pass MaxRecordSize together.
func (b *Buffer[T]) evictBatch(floor uint64) (wrote bool, err error) {
	b.taken = b.taken[:0]
	b.rec = grow(b.rec, headerSize)
	ceiling, skipped := noCeiling, false
	for {
		seq, ok := b.ring.highest(floor, ceiling)
		if !ok {
			break
		}
		ceiling = seq
		v, _ := b.ring.take(seq)
		start := len(b.rec)
		b.rec = b.appendItem(b.rec, seq, v)
		if len(b.rec)-start > MaxRecordSize {
			b.rec = b.rec[:start] // too big to spill: leave it
			b.restore([]taken[T]{{seq, v}})
			skipped = true
			continue
		}
		if len(b.rec)-headerSize > MaxRecordSize {
			// v does not fit with the others: commit them, start afresh.
			if err := b.commit(SiteBatchWrite, b.rec[:start], b.taken); err != nil {
				b.restore(append(b.taken, taken[T]{seq, v}))
				return wrote, err
			}
			wrote = true
			n := copy(b.rec[headerSize:], b.rec[start:])
			b.rec = b.rec[:headerSize+n]
			b.taken = b.taken[:0]
		}
		b.taken = append(b.taken, taken[T]{seq, v})
	}
	if len(b.taken) > 0 {
		if err := b.commit(SiteBatchWrite, b.rec, b.taken); err != nil {
			b.restore(b.taken)
			return wrote, err
		}
		wrote = true
	}
	return wrote, b.tooLarge(skipped)
}

// appendItem appends seq and the encoding of v to a record's raw payload.
func (b *Buffer[T]) appendItem(rec []byte, seq uint64, v T) []byte {
	b.item = b.codec.Append(b.item[:0], v)
	return appendEntry(rec, seq, b.item)
}

// restore puts items back in the ring after a failed write.
func (b *Buffer[T]) restore(items []taken[T]) {
	for _, t := range items {
		_, _, _ = b.ring.put(t.seq, t.v, true) // seq >= next: put cannot fail
	}
}

// commit compresses and writes rec (header space, then the raw payload of
// items) and, once the write has succeeded, records where the items went.
func (b *Buffer[T]) commit(site Site, rec []byte, items []taken[T]) error {
	raw := len(rec) - headerSize
	tag, out := tagRaw, rec
	if b.policy.Compression.Method == Zstd && raw >= minCompressSize {
		enc := encoderFor(b.policy.Compression.Level)
		b.zrec = enc.EncodeAll(rec[headerSize:], grow(b.zrec, headerSize))
		if len(b.zrec)-headerSize < raw {
			tag, out = tagZstd, b.zrec
		}
	}
	finishRecord(out, tag, len(items), raw)
	off, err := b.write(site, out)
	if err != nil {
		return err
	}
	for _, t := range items {
		b.index[t.seq] = off
		b.mem -= int64(b.codec.Size(t.v))
	}
	b.records[off] = &record{size: int64(len(out)), live: len(items)}
	b.order = append(b.order, off)
	b.stats.SpillEvents++
	b.stats.ItemsSpilled += int64(len(items))
	b.stats.BytesWritten += int64(len(out))
	b.stats.PayloadBytes += int64(raw)
	return nil
}

// write writes a finished record at the write cursor and returns its
// offset. A vanished directory is recovered from here (see recoverVanished).
func (b *Buffer[T]) write(site Site, rec []byte) (int64, error) {
	off := b.writePos
	err := b.writeAt(site, rec, off)
	if err != nil && isVanished(err) {
		off, err = 0, b.recoverVanished(site, rec, err)
	}
	if err != nil {
		return 0, err
	}
	b.writePos = off + int64(len(rec))
	return off, nil
}

// writeAt opens the backend if needed and writes rec at off.
func (b *Buffer[T]) writeAt(site Site, rec []byte, off int64) error {
	if b.file == nil {
		if b.policy.Dir == "" {
			b.file = &spooled{fs: b.fs, dir: b.path}
		} else {
			f, err := createAnonymous(b.fs, SiteBackendCreate, b.path)
			if err != nil {
				return err
			}
			b.file = f
		}
	}
	n, err := b.file.WriteAt(site, rec, off)
	if err == nil && n < len(rec) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return b.ioErr(site, off, err)
	}
	return nil
}

// recoverVanished handles a write that failed because the spill directory
// (or file) is gone. With committed records still live, their data is lost
// and recovery is refused. With nothing committed, the buffer re-creates
// its directory, once in its life, and retries the write once at offset 0.
// The spooled backend's temp dir belongs to the system and is never
// re-created; its committed records are still in memory.
func (b *Buffer[T]) recoverVanished(site Site, rec []byte, cause error) error {
	switch {
	case b.policy.Dir == "":
		// Spooled: what was committed is still in memory; only the
		// rollover failed.
		return &TempVanishedError{Path: b.path, Err: cause}
	case len(b.records) > 0:
		return &PriorSpillsLostError{Dir: b.path, Records: len(b.records), Items: len(b.index), Err: cause}
	case b.recreated:
		return &TempVanishedError{Path: b.path, Err: cause}
	}
	b.recreated = true
	if b.file != nil {
		_ = b.file.Close(SiteBackendClose) // the handle is stale; its data is dead
		b.file = nil
	}
	if err := b.fs.MkdirAll(SiteDirRecreate, b.path, 0o700); err != nil {
		return &TempVanishedError{Path: b.path, Err: &IOError{Site: SiteDirRecreate, Path: b.path, Offset: -1, Err: err}}
	}
	b.stats.DirRecreations++
	b.writePos, b.order = 0, nil
	if err := b.writeAt(site, rec, 0); err != nil {
		if isVanished(err) {
			return &TempVanishedError{Path: b.path, Err: err}
		}
		return err
	}
	return nil
}

// reload reads the record at off back into the ring. It decodes every live
// item before changing anything, so a failure leaves the buffer as it was.
func (b *Buffer[T]) reload(off int64) error {
	meta := b.records[off]
	if meta == nil || b.file == nil {
		return corrupt(off, "index points at a record the buffer never committed")
	}
	hb := b.hdr[:]
	if err := b.readAt(SiteReloadHeader, hb, off, off); err != nil {
		return err
	}
	h, err := parseHeader(hb, off)
	if err != nil {
		return err
	}
	size := int64(headerSize) + int64(h.stored)
	if off+size > b.writePos {
		return corrupt(off, "stored length %d runs past the end of the spill data at %d", h.stored, b.writePos)
	}
	if size != meta.size {
		return corrupt(off, "record is %d bytes, %d were written there", size, meta.size)
	}
	b.payload = grow(b.payload, int(h.stored))
	if err := b.readAt(SiteReloadPayload, b.payload, off, off+headerSize); err != nil {
		return err
	}
	entries, inflate, err := h.decodePayload(hb, b.payload, off, b.inflate)
	b.inflate = inflate
	if err != nil {
		return err
	}
	items := b.taken[:0]
	for _, e := range entries {
		if o, live := b.index[e.seq]; !live || o != off {
			continue // delivered or superseded since it was written
		}
		v, err := b.codec.Decode(e.data)
		if err != nil {
			return corrupt(off, "item seq %d does not decode: %v", e.seq, err)
		}
		items = append(items, taken[T]{e.seq, v})
	}
	if len(items) != meta.live {
		return corrupt(off, "record holds %d of the %d undelivered items written to it", len(items), meta.live)
	}
	for _, t := range items {
		delete(b.index, t.seq)
		_, _, _ = b.ring.put(t.seq, t.v, true) // seq >= next: put cannot fail
		b.mem += int64(b.codec.Size(t.v))
	}
	b.taken = items
	b.dropRecord(off)
	b.stats.ReloadEvents++
	b.stats.BytesRead += size
	b.trimScratch()
	return nil
}

// spilled returns the offset of the record holding seq, if it is on disk.
// Below budget nothing is, and the map lookup is skipped.
func (b *Buffer[T]) spilled(seq uint64) (int64, bool) {
	if len(b.index) == 0 {
		return 0, false
	}
	off, ok := b.index[seq]
	return off, ok
}

// forget drops the spilled copy of seq, if any.
func (b *Buffer[T]) forget(seq uint64) {
	off, ok := b.spilled(seq)
	if !ok {
		return
	}
	delete(b.index, seq)
	if r := b.records[off]; r != nil {
		if r.live--; r.live == 0 {
			b.dropRecord(off)
		}
	}
}

// dropRecord forgets a record with no live items. The write cursor comes
// back to the end of the last record still live, so space freed at the end
// of the file is written again and the file does not grow with the total
// spilled; space freed before a live record stays unused until that record
// goes too.
func (b *Buffer[T]) dropRecord(off int64) {
	delete(b.records, off)
	for len(b.order) > 0 {
		last := b.order[len(b.order)-1]
		if r := b.records[last]; r != nil {
			b.writePos = last + r.size
			return
		}
		b.order = b.order[:len(b.order)-1]
	}
	b.writePos = 0
}

func (b *Buffer[T]) ioErr(site Site, off int64, err error) error {
	if e := (*IOError)(nil); errors.As(err, &e) {
		return err // the spooled backend's rollover names its own site
	}
	return &IOError{Site: site, Path: b.path, Offset: off, Err: err}
}

// readAt fills p from off, part of the record at recOff. As io.ReaderAt
// allows, a full read may come with io.EOF; a short one means the record
// the index promised is not all there.
func (b *Buffer[T]) readAt(site Site, p []byte, recOff, off int64) error {
	n, err := b.file.ReadAt(site, p, off)
	switch {
	case err == nil || (n == len(p) && errors.Is(err, io.EOF)):
		return nil
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return corrupt(recOff, "spill file ends early (%s at offset %d)", site, off)
	}
	return b.ioErr(site, off, err)
}

// trimScratch drops scratch buffers grown past keepScratch and clears the
// items the taken list still references, so delivered items can be freed.
func (b *Buffer[T]) trimScratch() {
	clear(b.taken[:cap(b.taken)])
	b.taken = b.taken[:0]
	for _, s := range []*[]byte{&b.item, &b.rec, &b.zrec, &b.payload, &b.inflate} {
		if cap(*s) > keepScratch {
			*s = nil
		}
	}
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
