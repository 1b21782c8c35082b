package main

import (
	"fmt"
	"io"

	"github.com/spillbench/spillbench/injectors"
)

func cleanupCmd(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "cleanup", "  spillbench cleanup\n")
	if err := fs.parse(args); err != nil {
		return err
	}
	removed, err := injectors.Cleanup("")
	for _, r := range removed {
		fmt.Fprintf(stdout, "removed %s\n", r)
	}
	if len(removed) == 0 && err == nil {
		fmt.Fprintln(stdout, "nothing to clean up")
	}
	return err
}
