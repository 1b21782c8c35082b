package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spillbench/spillbench/injectors"
	"github.com/spillbench/spillbench/spill"
)

func cleanupCmd(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "cleanup", `  spillbench cleanup                   the temp dir, and $SPILLBENCH_SPILL_DIR if set
  spillbench cleanup --in /mnt/fast    also a spill directory a killed sweep was given
`)
	in := fs.String("in", "", "also clean this directory: the SPILLBENCH_SPILL_DIR a killed sweep ran with")
	if err := fs.parse(args); err != nil {
		return err
	}
	// Spill dirs go under SPILLBENCH_SPILL_DIR when it is set, not under
	// the temp dir; both are scanned, and a directory given twice is
	// scanned once.
	dirs := []string{os.TempDir()}
	for _, d := range []string{os.Getenv(spill.EnvDir), *in} {
		if d == "" {
			continue
		}
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			if d == *in {
				return usagef("cleanup: --in %s is not a directory; give the spill directory a killed sweep used", d)
			}
			continue // a spill dir the environment names but nothing made yet
		}
		dirs = appendNew(dirs, d)
	}
	var removed []string
	var errs []error
	for _, d := range dirs {
		r, err := injectors.Cleanup(d)
		removed = append(removed, r...)
		errs = append(errs, err)
	}
	for _, r := range removed {
		fmt.Fprintf(stdout, "removed %s\n", r)
	}
	err := errors.Join(errs...)
	if len(removed) == 0 && err == nil {
		fmt.Fprintln(stdout, "nothing to clean up")
	}
	return err
}

// appendNew appends d to dirs unless it names one of them already.
func appendNew(dirs []string, d string) []string {
	abs, err := filepath.Abs(d)
	if err != nil {
		abs = d
	}
	for _, x := range dirs {
		if xa, err := filepath.Abs(x); err == nil && xa == abs {
			return dirs
		}
	}
	return append(dirs, d)
}
