package spill

import (
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

func TestErrorKindNamesEveryTypedError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("not ours"), ""},
		{&IOError{Site: SiteBatchWrite, Err: unix.ENOSPC}, "IOError"},
		{fmt.Errorf("run: %w", &PriorSpillsLostError{}), "PriorSpillsLost"},
		{&TempVanishedError{}, "TempVanished"},
		{fmt.Errorf("reload: %w", &CorruptRecordError{Offset: 7, Reason: "bad checksum"}), "CorruptRecord"},
		{&UnsupportedCompressionError{Tag: 9}, "UnsupportedCompression"},
		{ErrSpillDisabled, "SpillDisabled"},
		{fmt.Errorf("insert: %w", ErrRecordTooLarge), "RecordTooLarge"},
		{&CapacityError{Seq: 10, Capacity: 4}, "Capacity"},
	} {
		if got := ErrorKind(tc.err); got != tc.want {
			t.Errorf("ErrorKind(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
