package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/spillbench/spillbench/injectors"
	"golang.org/x/term"
)

// exitError carries an exit status other than 1 without a message.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// usageError is bad input: one line, exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// failedError is a command that could not do its work (a build failed, a
// side of an interleaved run crashed) where exit status 1 means a finding:
// it exits 2, like bad input, so CI can tell it from a regression.
type failedError struct{ err error }

func (e failedError) Error() string { return e.err.Error() }

func (e failedError) Unwrap() error { return e.err }

const help = `spillbench measures spill-to-disk reorder buffers and their failures.

Usage:
  spillbench run [flags]     run a sweep and write a result directory
  spillbench report DIR...   write the design report of result directories (shards merge)
  spillbench compare OLD NEW compare result directories or Go benchmark files; exit 1 on a regression
  spillbench ab              run a base revision and the working tree interleaved, and compare them
  spillbench history add DIR record a run in a history store; history show finds change points
  spillbench calibrate       run a spec twice, interleaved (A/A), and recommend a threshold
  spillbench inject          run the fault matrix of every available mechanism and mode
  spillbench list            axes, built-in specs, and the injectors available here
  spillbench survive         every-operation, byte and corruption fault sweeps, and their document
  spillbench cleanup         remove mounts, loop devices and temp dirs left by interrupted runs
  spillbench version         print the version

Run "spillbench <command> -h" for a command's flags and examples.
`

// checkedWriter remembers the first error writing to w: a command's
// output that did not arrive (stdout on a full disk, a closed pipe) must
// not end in exit status 0.
type checkedWriter struct {
	w   io.Writer
	err error
}

func (c *checkedWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		c.err = err
	}
	return n, err
}

// spillbench runs the command line args and returns the exit status.
func spillbench(stdout, stderr io.Writer, args []string) (code int) {
	defer func() {
		// Whatever happens, nothing mounted stays mounted.
		if v := recover(); v != nil {
			injectors.Resources.ReleaseAll()
			fmt.Fprintf(stderr, "spillbench: internal error: %v\n", v)
			code = 70
		}
	}()
	out := &checkedWriter{w: stdout}
	err := dispatch(out, stderr, args)
	var ee exitError
	if out.err != nil && (err == nil || errors.As(err, &ee) || errors.Is(err, flag.ErrHelp)) {
		// The command's own result is moot if nobody could read it.
		fmt.Fprintf(stderr, "spillbench: writing standard output: %v\n", out.err)
		return 1
	}
	return exitCode(stderr, err)
}

// exitCode maps a command's error to its exit status, printing its line.
func exitCode(stderr io.Writer, err error) int {
	var ue usageError
	var ee exitError
	var fe failedError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, context.Canceled):
		sig := syscall.Signal(lastSignal.Load())
		if sig == 0 {
			sig = syscall.SIGINT
		}
		fmt.Fprintf(stderr, "spillbench: interrupted (%v)\n", sig)
		return 128 + int(sig) // 130 for SIGINT, 143 for SIGTERM, as shells report them
	case errors.As(err, &ue), errors.As(err, &fe):
		fmt.Fprintf(stderr, "spillbench: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "spillbench: %v\n", err)
	return 1
}

func dispatch(stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		_, err := fmt.Fprint(stdout, help)
		return err
	}
	switch args[0] {
	case "run":
		return runCmd(stdout, stderr, args[1:])
	case "report":
		return reportCmd(stdout, stderr, args[1:])
	case "compare":
		return compareCmd(stdout, stderr, args[1:])
	case "ab":
		return abCmd(stdout, stderr, args[1:])
	case "history":
		return historyCmd(stdout, stderr, args[1:])
	case "calibrate":
		return calibrateCmd(stdout, stderr, args[1:])
	case "inject":
		return injectCmd(stdout, stderr, args[1:])
	case "list":
		return listCmd(stdout, stderr, args[1:])
	case "survive":
		return surviveCmd(stdout, stderr, args[1:])
	case "cleanup":
		return cleanupCmd(stdout, stderr, args[1:])
	case "version":
		return versionCmd(stdout, stderr, args[1:])
	case "help", "-h", "-help", "--help":
		_, err := fmt.Fprint(stdout, help)
		return err
	}
	return usagef("unknown command %q; run spillbench with no arguments for the list", args[0])
}

// flags is a command's FlagSet and the help it prints on -h: the flags
// and examples. A parse error is a usage error of one line.
type flags struct {
	*flag.FlagSet
	help func()
}

func newFlags(stderr io.Writer, name, examples string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // parse prints help itself, on -h only
	return &flags{FlagSet: fs, help: func() {
		fmt.Fprintf(stderr, "Usage of spillbench %s:\n", name)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		fmt.Fprintf(stderr, "\nExamples:\n%s", examples)
	}}
}

// parseWithArgs parses flags given before or between positional
// arguments, and returns the positional ones.
func (f *flags) parseWithArgs(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.help()
				return nil, err
			}
			return nil, usagef("%s: %v; see spillbench %s -h", f.Name(), err, f.Name())
		}
		if f.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, f.Arg(0))
		args = f.Args()[1:]
	}
}

func (f *flags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.help()
			return err
		}
		return usagef("%s: %v; see spillbench %s -h", f.Name(), err, f.Name())
	}
	if f.NArg() > 0 {
		return usagef("%s: unexpected argument %q; see spillbench %s -h", f.Name(), f.Arg(0), f.Name())
	}
	return nil
}

// interruptible returns a context the first Ctrl-C (or SIGTERM) cancels;
// after it, a second one releases what the injectors hold and exits. The
// returned stop, safe to call more than once, uninstalls both handlers
// and waits for its goroutine.
//
// The signal that cancelled it is kept for the exit status: 128 plus its
// number, as a shell reports a process the signal killed.
func interruptible() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	finished := make(chan struct{})
	uninstall := make(chan func(), 1)
	go func() {
		select {
		case sig := <-ch:
			if s, ok := sig.(syscall.Signal); ok {
				lastSignal.Store(int32(s))
			}
			// Let the run wind down; the next signal reaches the
			// hard handler, installed before this one lets go.
			hard := injectors.HandleSignals()
			signal.Stop(ch)
			cancel()
			uninstall <- hard
		case <-finished:
			signal.Stop(ch)
			uninstall <- func() {}
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			close(finished)
			(<-uninstall)()
			cancel()
		})
	}
}

// lastSignal is the signal that last interrupted a command, 0 before any.
var lastSignal atomic.Int32

// progressTo is where a command's progress goes: stderr, or nowhere
// with -q.
func progressTo(stderr io.Writer, quiet bool) io.Writer {
	if quiet {
		return nil
	}
	return stderr
}

// isTerminal reports whether w is a terminal, where progress is a bar
// rather than lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// warnings prints what reading the inputs left out, one line each.
func warnings(stderr io.Writer, ws []string) {
	for _, w := range ws {
		fmt.Fprintf(stderr, "spillbench: warning: %s\n", w)
	}
}
