// Package spill is a reorder buffer that keeps its memory under a byte
// budget by writing the items furthest from delivery to a temp file and
// reloading them when their turn comes.
//
// Workers finish out of order; the consumer needs results in sequence. A
// [Ring] holds results by sequence number and hands them out strictly in
// order. A [Buffer] wraps a ring with a byte budget: when an insert pushes
// the estimated in-memory bytes over [Policy].Threshold, the buffer evicts
// items, highest sequence first, to a spill file and reloads them
// transparently in [Buffer.Next]. A small hot zone just above the delivery
// cursor is never evicted, so the items about to be delivered do not bounce
// through the disk.
//
// Everything about how the buffer spills is a [Policy] knob: granularity
// (one record per item, or one record per eviction), compression (none or
// zstd), reclaim (keep reloaded items in memory, or spill again while over
// budget), an optional process-RSS trigger, and an in-memory-only mode that
// never touches disk.
//
// # Filesystem seam
//
// Every filesystem call the buffer makes goes through [FS] and names its
// call site from the table in [Sites]. [OS] is the real filesystem. Fault
// injectors wrap an FS to fail chosen sites; kernel-level injectors leave the
// FS alone and point [Policy].Dir somewhere that fails.
//
// # Staged I/O
//
// Part of the budget, [Policy].IOBuffer, is a staging area: records wait
// there to be written together in one call, and a reload reads ahead into
// it so that one read serves the records due next. Items are evicted to
// keep within the rest of the budget, so items and staging together stay
// under the threshold (the hot zone apart). A record reloaded while still
// staged never touches the disk. With IOBuffer negative every record is
// written as it is made and read on its own, as the reference does.
//
// # Failure contract
//
// A failed write leaves every item it was carrying in memory and
// deliverable: the items of a record that could not be written go back to
// the ring, and a combined write that fails puts the items of every record
// it carried back too, decoded from the staged bytes, and says how many in
// [IOError].Items. The index changes only after a write commits. If the spill directory vanishes before anything was committed,
// the buffer re-creates it once and retries once; if it vanishes after
// records were committed the buffer returns [*PriorSpillsLostError] and keeps
// every in-memory item deliverable. Errors are typed: see [IOError],
// [CapacityError], [PriorSpillsLostError], [TempVanishedError],
// [CorruptRecordError], [UnsupportedCompressionError], [ErrSpillDisabled].
//
// # Record format
//
// Spill records are self-describing: each carries a codec tag, its lengths,
// the sequence number of every item in it, and a CRC-32C. Reload never relies
// on in-memory knowledge of how a record was written; a damaged record
// decodes to a [*CorruptRecordError], never a panic. The format is documented
// in docs/design/spill-format.md.
package spill
