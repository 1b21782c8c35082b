package spill

import "time"

// Stats is a snapshot of a buffer's spill activity.
type Stats struct {
	// SpilledItems is the number of items on disk now.
	SpilledItems int
	// SpilledRecords is the number of records on disk now that still hold
	// an undelivered item.
	SpilledRecords int
	// SpillEvents counts records written. Per-item granularity writes one
	// per item, batch granularity one per eviction (more only for batches
	// past MaxRecordSize).
	SpillEvents int64
	// Activations counts evictions that wrote at least one record, whatever
	// the granularity.
	Activations int64
	// ItemsSpilled counts items written, including items spilled again
	// after a reload.
	ItemsSpilled int64
	// ReloadEvents counts records read back.
	ReloadEvents int64
	// MemoryUsed is the estimated bytes of items in memory now.
	MemoryUsed int64
	// PeakMemory is the highest MemoryUsed seen when an Insert or Next
	// returned, that is, after eviction had its say.
	PeakMemory int64
	// Threshold is the byte budget.
	Threshold int64
	// DirRecreations counts re-creations of the spill directory after it
	// vanished: 0 or 1.
	DirRecreations int64
	// RecordBytes counts the bytes of the records made, headers included.
	RecordBytes int64
	// PayloadBytes counts the uncompressed payload bytes of those records;
	// PayloadBytes / (RecordBytes - 24*SpillEvents) is the compression ratio.
	PayloadBytes int64
	// BytesWritten counts bytes written to the spill file. Records staged
	// for a combined write and reloaded before it never reach the file.
	BytesWritten int64
	// BytesRead counts bytes read from the spill file, read-ahead included.
	BytesRead int64
	// WriteCalls and ReadCalls count the spill file's write and read calls:
	// with staging, one write carries many records and one read serves
	// several reloads.
	WriteCalls, ReadCalls int64
	// SpillTime is the time spent evicting: choosing, encoding,
	// compressing, staging and writing. ReloadTime is the time spent
	// delivering while anything was on disk: reading, checking,
	// decompressing and decoding records, and handing out the items in
	// between (a clock read per delivery would cost more than most of them
	// take). Together they are the spill path's cost, apart from the rest
	// of the program.
	SpillTime, ReloadTime time.Duration
}
