package spill

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
	// BytesWritten counts record bytes written, headers included.
	BytesWritten int64
	// PayloadBytes counts the uncompressed payload bytes of those records;
	// PayloadBytes / (BytesWritten - 24*SpillEvents) is the compression ratio.
	PayloadBytes int64
	// BytesRead counts record bytes read back, headers included.
	BytesRead int64
}
