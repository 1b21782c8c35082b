package spill

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
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
// After each insert, if the estimated bytes of the items in memory exceed
// their share of the budget (or the process RSS exceeds Policy.RSSLimit),
// the buffer evicts the items with the highest sequence numbers, sparing a
// hot zone just above the delivery cursor. See the package documentation
// for the failure contract.
//
// Spill I/O goes through a staging area, part of the budget
// (Policy.IOBuffer): records wait there to be written together, in one
// call, and reloads read ahead into it, so one read serves the records
// that follow. A record reloaded while still staged never touches the
// disk. What the buffer holds, items and staging together, is what the
// budget bounds.
//
// A Buffer is not safe for concurrent use. Close releases its spill file.
type Buffer[T any] struct {
	ring      *Ring[held[T]]
	codec     Codec[T]
	policy    Policy
	threshold int64 // the budget: items, staged records and read-ahead together
	itemLimit int64 // what items may hold: the budget less the staging space
	stage     int64 // the staging space
	fs        FS
	rss       func() (int64, error)
	items     int64 // estimated bytes of the items in ring
	writeSite Site  // the site of this buffer's writes: per-item or batch records

	// The spill file. Records lie end to end in [0, end): those below
	// pendOff are in the file, those above are staged in pend and not
	// written yet. ra holds file bytes [raOff, raOff+len(ra)) read ahead.
	file    File   // nil until the first write
	path    string // the spill directory, or the temp dir of the spooled backend
	end     int64
	pendOff int64
	pend    []byte
	raOff   int64
	ra      []byte
	raLive  int         // live records inside the read-ahead window
	index   seqIndex    // spilled sequence number -> its record's offset
	recs    recordTable // the records, in the order they lie in the file
	spilled int         // index.len(), where the hot path reads it
	closed  bool
	// recreated is set once the buffer has re-created its directory.
	recreated bool

	stats Stats

	// Scratch space reused between calls.
	item    []byte // one encoded item
	rec     []byte // a record being built: header space, then raw payload
	zrec    []byte // the same record compressed
	hdr     [headerSize]byte
	payload []byte  // a record's payload read on its own
	inflate []byte  // its decompressed form
	entries []entry // a reloaded record's entries
	taken   []taken[T]
}

// held is an item in the ring with its size, taken from the codec once.
type held[T any] struct {
	v    T
	size int64
}

// taken is an item out of the ring on its way to disk, or back.
type taken[T any] struct {
	seq uint64
	h   held[T]
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
		ring:      NewRing[held[T]](capacity),
		codec:     codec,
		policy:    p,
		threshold: p.threshold(),
		stage:     p.ioBuffer(),
		fs:        p.fs(),
		rss:       processRSS.get,
		path:      p.Dir,
		writeSite: SiteBatchWrite,
	}
	if p.Granularity == PerItem {
		b.writeSite = SiteRecordWrite
	}
	b.itemLimit = b.threshold - b.stage
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
	size := int64(b.codec.Size(v))
	old, replaced, err := b.ring.put(seq, held[T]{v, size}, force)
	if err != nil {
		return err
	}
	if replaced {
		b.items -= old.size
	}
	b.items += size
	if b.spilled > 0 || b.items > b.itemLimit || b.policy.RSSLimit > 0 {
		err = b.afterInsert(seq)
	}
	b.notePeak()
	return err
}

// afterInsert drops a stale spilled copy of seq and enforces the budget:
// the part of an insert that only runs with something on disk, memory
// over budget or an RSS trigger.
func (b *Buffer[T]) afterInsert(seq uint64) error {
	if b.spilled > 0 {
		b.forget(seq) // a spilled copy of seq is stale now
	}
	if b.items > b.itemLimit || b.policy.RSSLimit > 0 {
		return b.enforceBudget()
	}
	return nil
}

// Next removes and returns the item due for delivery, reloading it from
// disk if it was spilled. ok is false when that item has not arrived yet.
//
// A reload that fails delivers nothing and leaves the buffer as it was.
// With RespillAfterRead, an item delivered from a reload is followed, while
// memory is still over budget, by an eviction; if that eviction fails, Next
// returns the item (ok is true: it is the caller's) along with the error.
func (b *Buffer[T]) Next() (v T, ok bool, err error) {
	if b.spilled != 0 || b.closed {
		return b.nextSlow()
	}
	// Nothing on disk: the ring alone decides, and delivery only ever
	// lowers memory, so the peak cannot move. Small enough to inline.
	h, ok := b.ring.Next()
	b.items -= h.size // zero when there was none
	return h.v, ok, nil
}

// nextSlow is Next when something is on disk or the buffer is closed.
func (b *Buffer[T]) nextSlow() (v T, ok bool, err error) {
	if b.closed {
		return v, false, ErrClosed
	}
	start := time.Now()
	v, ok, err = b.next(true)
	b.stats.ReloadTime += time.Since(start)
	return v, ok, err
}

// next is Next for an open buffer. Only if reloads is set can the item be
// on disk.
func (b *Buffer[T]) next(reloads bool) (v T, ok bool, err error) {
	reloaded := false
	if reloads {
		if off, on := b.index.get(b.ring.NextExpected()); on {
			if err := b.reload(off); err != nil {
				return v, false, err
			}
			reloaded = true
		}
	}
	h, ok := b.ring.Next()
	if !ok {
		return v, false, nil
	}
	v = h.v
	b.items -= h.size
	if reloaded && b.policy.Reclaim == RespillAfterRead && b.items > b.itemLimit {
		// As the reference does: after the delivery, with the hot zone
		// above the new cursor, only while still over budget.
		err = b.evict(false)
	}
	b.notePeak()
	return v, true, err
}

// DrainReady appends to dst every item deliverable now, in sequence, and
// returns the extended slice. On error it returns what it drained so far
// along with the error, so nothing delivered is lost.
func (b *Buffer[T]) DrainReady(dst []T) ([]T, error) {
	if b.closed || b.spilled != 0 {
		return b.drainSlow(dst)
	}
	// Nothing on disk: the ring alone decides, and delivery only ever
	// lowers memory, so the peak cannot move. The rest is in drainSlow,
	// so that this loop runs in a small frame.
	for {
		h, ok := b.ring.Next()
		if !ok {
			return dst, nil
		}
		b.items -= h.size
		dst = append(dst, h.v)
	}
}

// drainSlow is DrainReady when something is on disk or the buffer is
// closed.
func (b *Buffer[T]) drainSlow(dst []T) ([]T, error) {
	if b.closed {
		return dst, ErrClosed
	}
	if _, onDisk := b.index.get(b.ring.NextExpected()); !onDisk && !b.ring.due() {
		return dst, nil // nothing to deliver: not worth two clock reads
	}
	start := time.Now()
	defer func() { b.stats.ReloadTime += time.Since(start) }()
	for {
		v, ok, err := b.next(b.spilled > 0)
		if ok {
			dst = append(dst, v)
		}
		if err != nil || !ok {
			return dst, err
		}
	}
}

// NextExpected returns the sequence number due for delivery.
func (b *Buffer[T]) NextExpected() uint64 { return b.ring.NextExpected() }

// Len returns the number of buffered items, in memory and on disk.
func (b *Buffer[T]) Len() int { return b.ring.Len() + b.spilled }

// Cap returns the capacity bound Insert enforces.
func (b *Buffer[T]) Cap() int { return b.ring.Cap() }

// Stats returns a snapshot of the buffer's counters.
func (b *Buffer[T]) Stats() Stats {
	s := b.stats
	s.SpilledItems = b.spilled
	s.SpilledRecords = b.recs.live
	s.MemoryUsed = b.memory()
	return s
}

// Close releases the spill file. Items still buffered, staged records
// among them, are dropped. Close reports the close error: on some
// filesystems that is where a failed write first shows.
func (b *Buffer[T]) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.index, b.recs, b.spilled = seqIndex{}, recordTable{}, 0
	b.pend, b.ra = nil, nil
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

// memory is what the budget counts: items, staged records and read-ahead.
func (b *Buffer[T]) memory() int64 { return b.items + int64(len(b.pend)+len(b.ra)) }

func (b *Buffer[T]) notePeak() { b.stats.PeakMemory = max(b.stats.PeakMemory, b.memory()) }

// enforceBudget evicts if the items are over their share of the budget or
// the RSS trigger fired.
func (b *Buffer[T]) enforceBudget() error {
	forced := b.rssOver()
	if !forced && b.items <= b.itemLimit {
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
		return fmt.Errorf("%w: %d bytes in memory, threshold %d", ErrSpillDisabled, b.items, b.threshold)
	}
	n := b.ring.Len()
	if n == 0 {
		return nil
	}
	start := time.Now()
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
		if b.stats.Activations == 1 && b.policy.Logger != nil {
			b.policy.Logger.Warn("reorder buffer spilled to disk; the arrival order outran the memory budget (one-time warning)",
				"dir", b.path, "threshold", FormatSize(b.threshold), "granularity", b.policy.Granularity.String())
		}
	}
	b.trimScratch()
	b.stats.SpillTime += time.Since(start)
	return err
}

// evictPerItem makes one record per item until the items are within
// their share of the budget.
func (b *Buffer[T]) evictPerItem(floor uint64, forced bool) (wrote bool, err error) {
	ceiling, skipped := noCeiling, false
	for b.items > b.itemLimit || (forced && !wrote) {
		seq, ok := b.ring.highest(floor, ceiling)
		if !ok {
			break
		}
		h, _ := b.ring.take(seq)
		b.taken = append(b.taken[:0], taken[T]{seq, h})
		b.rec = b.appendItem(grow(b.rec, headerSize), seq, h.v)
		if len(b.rec)-headerSize > MaxRecordSize {
			b.restore(b.taken) // too big to spill: leave it, evict below it
			ceiling, skipped = seq, true
			continue
		}
		if err := b.commit(b.rec, b.taken); err != nil {
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
	if skipped && b.items > b.itemLimit {
		return fmt.Errorf("%w (over %d bytes): %d bytes stay in memory, threshold %d", ErrRecordTooLarge, MaxRecordSize, b.items, b.threshold)
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
		h, _ := b.ring.take(seq)
		start := len(b.rec)
		b.rec = b.appendItem(b.rec, seq, h.v)
		if len(b.rec)-start > MaxRecordSize {
			b.rec = b.rec[:start] // too big to spill: leave it
			b.restore([]taken[T]{{seq, h}})
			skipped = true
			continue
		}
		if len(b.rec)-headerSize > MaxRecordSize {
			// v does not fit with the others: commit them, start afresh.
			if err := b.commit(b.rec[:start], b.taken); err != nil {
				b.restore(append(b.taken, taken[T]{seq, h}))
				return wrote, err
			}
			wrote = true
			n := copy(b.rec[headerSize:], b.rec[start:])
			b.rec = b.rec[:headerSize+n]
			b.taken = b.taken[:0]
		}
		b.taken = append(b.taken, taken[T]{seq, h})
	}
	if len(b.taken) > 0 {
		if err := b.commit(b.rec, b.taken); err != nil {
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
		_, _, _ = b.ring.put(t.seq, t.h, true) // seq >= next: put cannot fail
	}
}

// commit compresses rec (header space, then the raw payload of items),
// stages it or writes it, and records where the items went. On error the
// items are still the caller's.
func (b *Buffer[T]) commit(rec []byte, items []taken[T]) error {
	var out []byte
	out, b.zrec = sealRecord(rec, b.zrec, b.policy.Compression, len(items))
	off, err := b.place(out)
	if err != nil {
		return err
	}
	for _, t := range items {
		b.index.set(t.seq, off)
		b.items -= t.h.size
	}
	b.spilled += len(items)
	b.recs.add(off, int64(len(out)), len(items))
	b.stats.SpillEvents++
	b.stats.ItemsSpilled += int64(len(items))
	b.stats.RecordBytes += int64(len(out))
	b.stats.PayloadBytes += int64(len(rec) - headerSize)
	return nil
}

// place puts a finished record at the end of the spill data and returns
// its offset: staged, when it fits the staging space (writing what was
// staged first if the two do not fit together), or written on its own.
func (b *Buffer[T]) place(rec []byte) (int64, error) {
	size := int64(len(rec))
	if len(b.pend) > 0 && int64(len(b.pend))+size > b.stage {
		if err := b.flush(); err != nil {
			return 0, err
		}
	}
	if size > b.stage {
		// Too large to stage: written straight away, as without staging.
		off := b.end
		err := b.writeAt(b.writeSite, rec, off)
		if err != nil && isVanished(err) {
			off, err = 0, b.recoverVanished(rec, err)
		}
		if err != nil {
			return 0, err
		}
		b.end = off + size
		b.pendOff = b.end
		b.wrote(off, size)
		return off, nil
	}
	if int64(len(b.pend)+len(b.ra))+size > b.stage {
		b.dropReadAhead() // the staged records need the room more
	}
	off := b.end
	b.pend = append(b.pend, rec...)
	b.end += size
	return off, nil
}

// flush writes the staged records in one call. If the write fails, the
// items of every staged record go back to the ring, decoded from the
// staged bytes, and the error says how many: nothing staged is lost.
func (b *Buffer[T]) flush() error {
	if len(b.pend) == 0 {
		return nil
	}
	off := b.pendOff
	err := b.writeAt(b.writeSite, b.pend, off)
	if err != nil && isVanished(err) {
		off, err = 0, b.recoverVanished(b.pend, err)
	}
	if err != nil {
		n, uerr := b.unstage()
		return errors.Join(withItems(err, n), uerr)
	}
	b.wrote(off, int64(len(b.pend)))
	b.pend = b.pend[:0]
	b.pendOff = b.end
	return nil
}

// wrote counts a write of n bytes at off. Read-ahead bytes of the file
// region it overwrote are stale now, so the window goes.
func (b *Buffer[T]) wrote(off, n int64) {
	b.stats.BytesWritten += n
	b.stats.WriteCalls++
	if len(b.ra) > 0 && off < b.raOff+int64(len(b.ra)) && b.raOff < off+n {
		b.dropReadAhead()
	}
}

// withItems adds to a write error how many staged items it put back in
// memory.
func withItems(err error, n int) error {
	var ioe *IOError
	if n > 0 && errors.As(err, &ioe) {
		ioe.Items += n
	}
	return err
}

// unstage undoes the staging of every staged record: their live items go
// back to the ring, and the records are forgotten. It returns how many
// items came back.
func (b *Buffer[T]) unstage() (int, error) {
	n := 0
	var errs []error
	for at := 0; at < len(b.pend); {
		off := b.pendOff + int64(at)
		entries, size, err := decodeRecord(b.pend[at:], off)
		if err != nil {
			// The bytes were encoded moments ago by this buffer: only a
			// bug gets here. Report it; the items of that record are lost.
			errs = append(errs, err)
			break
		}
		for _, e := range entries {
			if o, live := b.index.get(e.seq); !live || o != off {
				continue
			}
			v, err := b.codec.Decode(e.data)
			if err != nil {
				errs = append(errs, corrupt(off, "item seq %d does not decode: %v", e.seq, err))
				continue
			}
			b.index.del(e.seq)
			b.spilled--
			size := int64(b.codec.Size(v))
			_, _, _ = b.ring.put(e.seq, held[T]{v, size}, true)
			b.items += size
			n++
		}
		at += size
	}
	b.recs.truncate(b.pendOff)
	b.end = b.pendOff
	b.pend = b.pend[:0]
	return n, errors.Join(errs...)
}

// writeAt opens the backend if needed and writes p at off.
func (b *Buffer[T]) writeAt(site Site, p []byte, off int64) error {
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
	n, err := b.file.WriteAt(site, p, off)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return b.ioErr(site, off, err)
	}
	return nil
}

// recoverVanished handles a write of p that failed because the spill
// directory (or file) is gone. With records in the file still live, their
// data is lost and recovery is refused. With nothing in the file, the
// buffer re-creates its directory, once in its life, and retries the
// write once at offset 0, moving any staged records there. The spooled
// backend's temp dir belongs to the system and is never re-created; its
// records are still in memory.
func (b *Buffer[T]) recoverVanished(p []byte, cause error) error {
	onDisk, items := b.recs.below(b.pendOff)
	switch {
	case b.policy.Dir == "":
		// Spooled: what was written is still in memory; only the
		// rollover failed.
		return &TempVanishedError{Path: b.path, Err: cause}
	case onDisk > 0:
		return &PriorSpillsLostError{Dir: b.path, Records: onDisk, Items: items, Err: cause}
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
	b.dropReadAhead()
	b.rebase()
	if err := b.writeAt(b.writeSite, p, 0); err != nil {
		if isVanished(err) {
			return &TempVanishedError{Path: b.path, Err: err}
		}
		return err
	}
	return nil
}

// rebase moves the staged records to offset 0 of a new, empty file: the
// old file had no live record left.
func (b *Buffer[T]) rebase() {
	shift := b.pendOff
	if shift == 0 {
		return
	}
	b.index.shift(shift)
	b.recs.shift(shift)
	b.end -= shift
	b.pendOff = 0
}

// reload brings the record at off back into the ring: from the staging
// area if it was never written, from the read-ahead window if an earlier
// read brought it in, or else by reading it, and as much of what follows
// as the staging space allows. It decodes every live item before changing
// anything, so a failure leaves the buffer as it was.
func (b *Buffer[T]) reload(off int64) error {
	meta, ok := b.recs.get(off)
	if !ok {
		return corrupt(off, "index points at a record the buffer never committed")
	}
	hb, p, err := b.recordBytes(off, meta.size)
	if err != nil {
		return err
	}
	h, err := parseHeader(hb, off)
	if err != nil {
		return err
	}
	if size := int64(headerSize) + int64(h.stored); size != meta.size {
		return corrupt(off, "record is %d bytes, %d were written there", size, meta.size)
	}
	entries, inflate, err := h.decodePayload(b.entries, hb, p, off, b.inflate)
	b.inflate = inflate
	if cap(entries) <= keepScratch/16 {
		b.entries = entries[:0]
	}
	if err != nil {
		return err
	}
	items := b.taken[:0]
	for _, e := range entries {
		if o, live := b.index.get(e.seq); !live || o != off {
			continue // delivered or superseded since it was written
		}
		v, err := b.codec.Decode(e.data)
		if err != nil {
			return corrupt(off, "item seq %d does not decode: %v", e.seq, err)
		}
		items = append(items, taken[T]{e.seq, held[T]{v, int64(b.codec.Size(v))}})
	}
	if len(items) != meta.live {
		return corrupt(off, "record holds %d of the %d undelivered items written to it", len(items), meta.live)
	}
	for _, t := range items {
		b.index.del(t.seq)
		_, _, _ = b.ring.put(t.seq, t.h, true) // seq >= next: put cannot fail
		b.items += t.h.size
	}
	b.spilled -= len(items)
	b.taken = items
	b.recs.drop(off)
	b.dropped(off, meta.size)
	b.stats.ReloadEvents++
	b.trimScratch()
	return nil
}

// recordBytes returns the header and stored payload of the record of size
// bytes at off, wherever they are.
func (b *Buffer[T]) recordBytes(off, size int64) (hdr, payload []byte, err error) {
	switch {
	case size < headerSize:
		return nil, nil, corrupt(off, "record of %d bytes is shorter than its header", size)
	case off >= b.pendOff:
		rec := b.pend[off-b.pendOff : off-b.pendOff+size]
		return rec[:headerSize], rec[headerSize:], nil
	case off >= b.raOff && off+size <= b.raOff+int64(len(b.ra)):
		rec := b.ra[off-b.raOff : off-b.raOff+size]
		return rec[:headerSize], rec[headerSize:], nil
	case b.file == nil:
		return nil, nil, corrupt(off, "index points at a record the buffer never committed")
	}
	b.dropReadAhead()
	if len(b.pend) > 0 && int64(len(b.pend)) > b.stage/4 {
		// Staged records are those furthest from delivery; the records
		// about to be reloaded need the room more. Writing them now is
		// a write that was coming anyway. If it fails, their items are
		// back in memory and the error says so.
		if err := b.flush(); err != nil {
			return nil, nil, err
		}
	}
	// Read the record and, room allowing, the records around it, up to
	// the end of what the file holds. Items are due in sequence but were
	// written in arrival order, which workers shuffle; the window starts
	// early enough to take in the records of the items due next that were
	// written before this one.
	room := b.stage - int64(len(b.pend))
	if room >= size && size > headerSize {
		from := b.windowStart(off, size, room)
		to := min(from+room, b.pendOff)
		if to < off+size {
			return nil, nil, corrupt(off, "record of %d bytes runs past the end of the spill data at %d", size, b.pendOff)
		}
		b.ra = grow(b.ra, int(to-from))
		if err := b.readAt(SiteReloadHeader, b.ra, off, from); err != nil {
			b.ra = b.ra[:0]
			return nil, nil, err
		}
		b.raOff = from
		b.raLive = b.recs.within(from, to)
		rec := b.ra[off-from : off-from+size]
		return rec[:headerSize], rec[headerSize:], nil
	}
	// The record does not fit the room left: header, then payload, in
	// scratch space that is gone when the reload is.
	hb := b.hdr[:]
	if err := b.readAt(SiteReloadHeader, hb, off, off); err != nil {
		return nil, nil, err
	}
	if off+size > b.pendOff {
		return nil, nil, corrupt(off, "stored length %d runs past the end of the spill data at %d", size-headerSize, b.pendOff)
	}
	b.payload = grow(b.payload, int(size-headerSize))
	if err := b.readAt(SiteReloadPayload, b.payload, off, off+headerSize); err != nil {
		return nil, nil, err
	}
	return hb, b.payload, nil
}

// lookAhead is how many of the next spilled items the read-ahead window
// is placed for.
const lookAhead = 64

// windowStart places a read-ahead window of room bytes that holds the
// record of size bytes at off: as early as the records of the items due
// next allow, so that the window holds as many of them as it can.
func (b *Buffer[T]) windowStart(off, size, room int64) int64 {
	from := off
	earliest := off + size - room // the window must still hold this record
	found := 0
	for seq := b.ring.NextExpected() + 1; found < lookAhead && seq < b.ring.NextExpected()+4*lookAhead; seq++ {
		if o, ok := b.index.get(seq); ok {
			found++
			if o < from && o >= earliest {
				from = o
			}
		}
	}
	return max(from, 0)
}

// dropReadAhead forgets the read-ahead window, freeing its part of the
// budget.
func (b *Buffer[T]) dropReadAhead() {
	b.ra, b.raLive = b.ra[:0], 0
	if cap(b.ra) > keepScratch {
		b.ra = nil
	}
}

// forget drops the spilled copy of seq, if any.
func (b *Buffer[T]) forget(seq uint64) {
	off, ok := b.index.get(seq)
	if !ok {
		return
	}
	b.index.del(seq)
	b.spilled--
	if r, ok := b.recs.get(off); ok && b.recs.release(off) {
		b.dropped(off, r.size)
	}
}

// dropped follows up the drop of the record of size bytes at off, whose
// items are all gone. The end of the spill data comes back to the end of
// the last record still live, so space freed at the end is used again and
// the file does not grow with the total spilled; space freed before a live
// record stays unused until that record goes too. Staged bytes past the
// new end are dropped unwritten.
func (b *Buffer[T]) dropped(off, size int64) {
	if len(b.ra) > 0 && off >= b.raOff && off+size <= b.raOff+int64(len(b.ra)) {
		if b.raLive--; b.raLive <= 0 {
			b.dropReadAhead() // nothing left there to serve
		}
	}
	b.end = b.recs.end()
	if b.end <= b.pendOff {
		b.pend, b.pendOff = b.pend[:0], b.end
	} else {
		b.pend = b.pend[:b.end-b.pendOff]
	}
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
	b.stats.ReadCalls++
	b.stats.BytesRead += int64(n)
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
