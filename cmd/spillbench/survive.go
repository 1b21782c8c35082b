package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spillbench/spillbench/bench"
	"github.com/spillbench/spillbench/injectors"
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
	// A directory with files in it, or held by another survive, is
	// refused by Survive before it writes anything (an *OutError).
	docOut := *docDir
	if docOut == "" {
		docOut = dir
	} else if err := probeWritable(filepath.Join(docOut, "fault-survival")); err != nil {
		// Found now, not after the sweeps.
		return usagef("survive: --doc %s: %v; give a directory you can write", docOut, err)
	}

	// As in run: the first Ctrl-C (or SIGTERM) stops the sweeps after the
	// run in progress, and Survive takes back its scratch and result
	// directories; a second one releases them through the registry and
	// exits. exitCode gives the status of the signal (130, 143).
	ctx, stop := interruptible()
	defer stop()
	defer injectors.Resources.ReleaseAll()

	progress := progressTo(stderr, *quiet)
	n, err := bench.Survive(ctx, bench.SurvivalOptions{Out: dir, Progress: progress, Stride: *stride})
	var oe *bench.OutError
	if errors.As(err, &oe) {
		return usagef("survive: %v", err) // not empty, or another survive holds it
	}
	if err != nil {
		return err
	}
	runs, env, err := reports.LoadSurvival(dir)
	if err != nil {
		return err
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

// probeWritable checks that files can be made in dir: it makes dir (and
// the directories above it that are missing), creates and removes a
// file there, and removes the directories it made.
func probeWritable(dir string) error {
	var made []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); !errors.Is(err, fs.ErrNotExist) || d == filepath.Dir(d) {
			break
		}
		made = append(made, d)
	}
	defer func() {
		for _, d := range made {
			os.Remove(d)
		}
	}()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".spillbench-probe-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}
