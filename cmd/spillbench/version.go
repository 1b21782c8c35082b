package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

func versionCmd(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "version", "  spillbench version\n")
	if err := fs.parse(args); err != nil {
		return err
	}
	v, commit := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				commit = " " + s.Value
			}
		}
	}
	fmt.Fprintf(stdout, "spillbench %s%s %s\n", v, commit, strings.TrimSpace(runtimeVersion()))
	return nil
}

func runtimeVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.GoVersion
	}
	return ""
}
