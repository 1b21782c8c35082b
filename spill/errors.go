package spill

import (
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"
)

// Sentinel errors. Typed errors below match them with errors.Is where noted.
var (
	// ErrCapacity reports an insert too far ahead of the delivery cursor.
	// [*CapacityError] matches it.
	ErrCapacity = errors.New("reorder buffer capacity exceeded")

	// ErrAlreadyDelivered reports an insert of a sequence number the buffer
	// has already delivered: a duplicate result.
	ErrAlreadyDelivered = errors.New("sequence number already delivered")

	// ErrSpillDisabled reports that the in-memory budget was exceeded while
	// the policy forbids disk (in-memory-only). The item that was inserted
	// stays buffered; raise the threshold, lower concurrency or allow spilling.
	ErrSpillDisabled = errors.New("budget exceeded but spill to disk is disabled (in-memory-only policy)")

	// ErrClosed reports use of a buffer after Close.
	ErrClosed = errors.New("spill buffer is closed")

	// ErrRecordTooLarge reports an eviction that left memory over budget
	// because items too large for one record (MaxRecordSize) could not be
	// spilled. They stay in memory; everything else that could go went.
	ErrRecordTooLarge = errors.New("item too large for one spill record")
)

// CapacityError reports an Insert whose sequence number lies Capacity or
// more ahead of the delivery cursor. errors.Is(err, ErrCapacity) is true.
type CapacityError struct {
	Seq      uint64 // the sequence number inserted
	Next     uint64 // the next sequence number due for delivery
	Capacity int    // the ring's capacity bound
}

func (e *CapacityError) Error() string {
	return fmt.Sprintf("reorder buffer capacity exceeded: seq %d is %d ahead of next %d, capacity %d",
		e.Seq, e.Seq-e.Next, e.Next, e.Capacity)
}

// Is reports whether target is ErrCapacity.
func (e *CapacityError) Is(target error) bool { return target == ErrCapacity }

// IOError is a filesystem failure at one site of the buffer. Err is the
// operating system's error, so errors.Is(err, unix.ENOSPC) works through it.
type IOError struct {
	Site   Site   // where in the buffer the call was made
	Path   string // the spill directory or file the call concerned
	Offset int64  // byte offset in the spill file, or -1 when not a read or write
	Err    error  // the underlying error
	// Items is how many items a failed write was carrying, staged for a
	// combined write: they are back in memory and deliverable.
	Items int
}

func (e *IOError) Error() string {
	kept := ""
	if e.Items > 0 {
		kept = fmt.Sprintf(" (%d staged items kept in memory)", e.Items)
	}
	if e.Offset >= 0 {
		return fmt.Sprintf("spill %s %s at offset %d: %v%s", e.Site, e.Path, e.Offset, e.Err, kept)
	}
	return fmt.Sprintf("spill %s %s: %v%s", e.Site, e.Path, e.Err, kept)
}

func (e *IOError) Unwrap() error { return e.Err }

// OutOfSpace reports whether the failure was ENOSPC or EDQUOT.
func (e *IOError) OutOfSpace() bool { return IsOutOfSpace(e.Err) }

// IsOutOfSpace reports whether err, anywhere in its chain, is ENOSPC (no
// space left on device) or EDQUOT (disk quota exceeded).
func IsOutOfSpace(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT)
}

// isVanished reports whether err means a path the buffer relies on is gone.
func isVanished(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// PriorSpillsLostError reports that the spill directory vanished after
// records had been committed to it. The buffer will not re-create the
// directory over them, so no further spills are possible. Items still in
// memory stay deliverable. The committed records are at risk, not known to
// be gone: the buffer's file handle is still open, and where the filesystem
// still serves it (a local unlink does; a stale network or FUSE handle may
// not) a caller that carries on gets them delivered. Items counts them so
// that a caller that stops now knows how many it would lose.
type PriorSpillsLostError struct {
	Dir     string // the spill directory that vanished
	Records int    // committed records not yet reloaded
	Items   int    // items those records hold: at risk
	Err     error  // the error that revealed the loss
}

func (e *PriorSpillsLostError) Error() string {
	return fmt.Sprintf("spill directory %s vanished: %d record(s) holding %d item(s) are readable only through the open spill file, if at all: %v",
		e.Dir, e.Records, e.Items, e.Err)
}

func (e *PriorSpillsLostError) Unwrap() error { return e.Err }

// TempVanishedError reports that the spill directory or temp file vanished
// before anything was committed and recovery failed (or had already been
// used up: the buffer re-creates its directory at most once). No spilled
// data was lost; a new buffer with a working directory can carry on.
type TempVanishedError struct {
	Path string // the directory or file that vanished
	Err  error  // the error that ended recovery
}

func (e *TempVanishedError) Error() string {
	return fmt.Sprintf("spill temp %s vanished and could not be recovered: %v", e.Path, e.Err)
}

func (e *TempVanishedError) Unwrap() error { return e.Err }

// CorruptRecordError reports a spill record that does not decode: truncated,
// damaged, or not what the index says it is.
type CorruptRecordError struct {
	Offset int64  // where the record starts in the spill file
	Reason string // what is wrong with it
}

func (e *CorruptRecordError) Error() string {
	return fmt.Sprintf("corrupt spill record at offset %d: %s", e.Offset, e.Reason)
}

// UnsupportedCompressionError reports an intact record (its checksum holds)
// whose codec tag this build does not know, such as one written by a newer
// version.
type UnsupportedCompressionError struct {
	Tag    byte
	Offset int64
}

func (e *UnsupportedCompressionError) Error() string {
	return fmt.Sprintf("spill record at offset %d uses compression tag 0x%02x, not supported by this build", e.Offset, e.Tag)
}

// ErrorKind names the kind of spill error at the top of err's chain that
// matters, the way outcome files and exit codes classify failures:
// PriorSpillsLost, TempVanished, CorruptRecord, UnsupportedCompression,
// IOError, SpillDisabled, RecordTooLarge or Capacity. It returns "" for
// nil and for errors that are not the spill package's.
func ErrorKind(err error) string {
	var (
		ioe  *IOError
		lost *PriorSpillsLostError
		gone *TempVanishedError
		bad  *CorruptRecordError
		tag  *UnsupportedCompressionError
	)
	switch {
	case err == nil:
		return ""
	// The specific kinds first: each of them may wrap an IOError's cause.
	case errors.As(err, &lost):
		return "PriorSpillsLost"
	case errors.As(err, &gone):
		return "TempVanished"
	case errors.As(err, &bad):
		return "CorruptRecord"
	case errors.As(err, &tag):
		return "UnsupportedCompression"
	case errors.As(err, &ioe):
		return "IOError"
	case errors.Is(err, ErrSpillDisabled):
		return "SpillDisabled"
	case errors.Is(err, ErrRecordTooLarge):
		return "RecordTooLarge"
	case errors.Is(err, ErrCapacity):
		return "Capacity"
	}
	return ""
}
