package main

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spillbench/spillbench/bench"
	"github.com/spillbench/spillbench/reports"
)

func surviveCmd(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "survive", `  spillbench survive                                   every-operation, byte and corruption sweeps
  spillbench survive --doc docs/design
`)
	out := fs.String("out", "", "result directory (default ./out/survive-<time>)")
	docDir := fs.String("doc", "", "directory to write fault-survival.md and its figure into (default: the result directory)")
	stride := fs.Int("stride", 1, "corruption sweep: every stride-th bit and length")
	quiet := fs.Bool("q", false, "no progress output")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *stride < 1 {
		return usagef("survive: --stride %d; give at least 1", *stride)
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("out", "survive-"+time.Now().Format("20060102-150405"))
	}
	progress := progressTo(stderr, *quiet)
	n, err := bench.Survive(bench.SurvivalOptions{Out: dir, Progress: progress, Stride: *stride})
	if err != nil {
		return err
	}
	runs, env, err := reports.LoadSurvival(dir)
	if err != nil {
		return err
	}
	docOut := *docDir
	if docOut == "" {
		docOut = dir
	}
	cmd := "spillbench survive"
	if *stride > 1 {
		cmd += fmt.Sprintf(" --stride %d", *stride)
	}
	if err := reports.WriteSurvivalDoc(runs, env, docOut, cmd); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "spillbench: %d survival runs in %s; wrote %s\n", n, dir, filepath.Join(docOut, "fault-survival.md"))
	return nil
}
