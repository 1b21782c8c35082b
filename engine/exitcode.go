package engine

import (
	"context"
	"errors"

	"github.com/spillbench/spillbench/spill"
)

// Exit codes, after rsync's errcode.h, so a run's outcome reads like an
// rsync transfer's.
const (
	ExitOK = 0
	// ExitFileIO (rsync RERR_FILEIO): the spill file failed: I/O error,
	// out of space, directory or temp file vanished, prior spills lost, a
	// corrupt or unreadable record.
	ExitFileIO = 11
	// ExitIPC (rsync RERR_IPC): the reorder window overflowed, which the
	// pipeline's back-pressure should make impossible.
	ExitIPC = 14
	// ExitCrashed (rsync RERR_CRASHED): a worker panicked.
	ExitCrashed = 15
	// ExitSignal (rsync RERR_SIGNAL): the run was cancelled.
	ExitSignal = 20
	// ExitMemory (rsync RERR_MALLOC): the memory budget could not be held:
	// spilling to disk was forbidden (in-memory-only policy), or an item
	// was too large to spill.
	ExitMemory = 22
	// ExitPartial (rsync RERR_PARTIAL): the run finished, but verification
	// found items lost, duplicated, corrupted or out of order.
	ExitPartial = 23
	// ExitOther: any other error.
	ExitOther = 1
)

// ExitCode maps a run's error and report to its exit code.
func ExitCode(err error, rep Report) int {
	switch spill.ErrorKind(err) {
	case "PriorSpillsLost", "TempVanished", "IOError", "CorruptRecord", "UnsupportedCompression":
		return ExitFileIO
	case "SpillDisabled", "RecordTooLarge":
		return ExitMemory
	case "Capacity":
		return ExitIPC
	}
	switch {
	case err == nil && rep.Clean():
		return ExitOK
	case err == nil:
		return ExitPartial
	case errors.Is(err, ErrWorkerPanic):
		return ExitCrashed
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ExitSignal
	}
	return ExitOther
}
