//go:build !linux

package spill

import (
	"errors"
	"os"
)

var errNoTmpfile = errors.New("O_TMPFILE not supported")

// openAnonymous is Linux-only; elsewhere the caller falls back to
// create-then-unlink.
func openAnonymous(string) (*os.File, error) { return nil, errNoTmpfile }
