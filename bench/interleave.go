package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Interleaving runs sweeps of the same spec in separate processes, taking
// turns run by run. Drift of the host (another tenant, a slower period)
// then falls on every side alike instead of on whichever ran second: on
// the 2-core VMs this project is measured on, two quick sweeps run one
// after the other differ by a factor common to every cell whose spread
// (about 6.5%) is larger than any cell's own noise, and the speed of a
// vCPU changes from one second to the next by up to a third as its
// neighbours come and go. Taking turns repetition by repetition leaves
// the two sides' repetitions of a cell 150 ms or more apart; run by run,
// their runs are interleaved within the same moments.
//
// The sides speak a line protocol over two pipes, which a side run with
// `spillbench run --lockstep` finds as file descriptors 3 and 4: before
// each repetition the side writes "<cell> <rep>" on 4, and before each
// further run of it "<cell> <rep> run <n>", and waits for "go" on 3. The
// driver checks that the sides announce the same repetitions, so their
// sweeps cannot drift apart, and lets them go in turn: A then B for a
// cell's even repetitions, B then A for its odd ones, so that neither
// side always runs first, and within a repetition the order reverses
// with every run (A B, B A, A B, ...).
//
// Each side fills the benchtime with its own count of runs, fixed by its
// warm-up, and two processes often fix different ones. A side with more
// runs would run its last ones alone, back to back, in other moments than
// the rest of the repetition. So a side announces a recorded repetition of a timed cell as
// "<cell> <rep> runs <n>", with the count it would run, and when every
// side does, the driver answers "go <m>", m the largest count announced,
// and every side runs m. A side that announces no count (an older
// binary, a warm-up, a cell not timed) gets "go" and runs its own.

// LockstepFDs are the descriptors a side reads its turns from and
// announces its repetitions on.
const (
	lockstepGoFD    = 3
	lockstepReadyFD = 4
)

// LockstepStep returns the Options.Step of a side run under Interleave:
// it announces each repetition, with the runs it would make when runs is
// positive, and each further run of it on ready, waits for its turn on
// turns, and returns the count of runs the driver agreed (0: none).
func LockstepStep(turns io.Reader, ready io.Writer) StepFunc {
	in := bufio.NewScanner(turns)
	return func(cell string, rep, run, runs int) (int, error) {
		line := fmt.Sprintf("%s %d", cell, rep)
		switch {
		case run > 0:
			line += fmt.Sprintf("%s%d", runMark, run)
		case runs > 0:
			line += fmt.Sprintf("%s%d", runsMark, runs)
		}
		if _, err := io.WriteString(ready, line+"\n"); err != nil {
			return 0, fmt.Errorf("lockstep: the driver went away: %w", err)
		}
		if !in.Scan() {
			return 0, errors.New("lockstep: the driver went away before this side's turn")
		}
		word, count, _ := strings.Cut(in.Text(), " ")
		agreed, err := strconv.Atoi(count)
		if word != "go" || count != "" && (err != nil || agreed < 1 || run > 0) {
			return 0, fmt.Errorf("lockstep: the driver sent %q; want go, or go and a count of runs at a repetition's start", in.Text())
		}
		return agreed, nil
	}
}

// runMark separates a repetition from the number of a further run of it
// in an announcement; runsMark from the count of runs the side would make.
const (
	runMark  = " run "
	runsMark = " runs "
)

// announced splits an announcement into its repetition ("<cell> <rep>"),
// the run within it (0 for the repetition's start) and, for a start, the
// count of runs the side would make (0 if it said none).
func announced(line string) (rep string, run, runs int) {
	if at, n, ok := cutCount(line, runMark); ok {
		return at, n, 0
	}
	if at, n, ok := cutCount(line, runsMark); ok {
		return at, 0, n
	}
	return line, 0, 0
}

// cutCount splits line at its last mark, followed by a positive count.
func cutCount(line, mark string) (before string, n int, ok bool) {
	i := strings.LastIndex(line, mark)
	if i < 0 {
		return line, 0, false
	}
	n, err := strconv.Atoi(line[i+len(mark):])
	if err != nil || n < 1 {
		return line, 0, false
	}
	return line[:i], n, true
}

// lockstepEnv marks a process Interleave started: only then are
// descriptors 3 and 4 its pipes (in any other process they may be
// anything, the Go runtime's own among them).
const lockstepEnv = "SPILLBENCH_LOCKSTEP_PIPES"

// LockstepFiles are the pipes of a side started by Interleave, or an
// error if this process was not started so.
func LockstepFiles() (turns *os.File, ready *os.File, err error) {
	notForYou := errors.New("--lockstep takes turns over the pipes of spillbench ab or calibrate; it is not for direct use")
	if os.Getenv(lockstepEnv) != "1" {
		return nil, nil, notForYou
	}
	turns, ready = os.NewFile(lockstepGoFD, "lockstep-turns"), os.NewFile(lockstepReadyFD, "lockstep-ready")
	for _, f := range []*os.File{turns, ready} {
		if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			return nil, nil, notForYou
		}
		// Not for the programs the sweep starts (mkfs, git): one that
		// lingered would hold the driver's pipe open.
		syscall.CloseOnExec(int(f.Fd()))
	}
	os.Unsetenv(lockstepEnv)
	return turns, ready, nil
}

// Side is one process of an interleaved run.
type Side struct {
	Name           string // for messages: base, head, a, b
	Path           string // the executable
	Args           []string
	Env            []string // added to this process's environment
	Stdout, Stderr io.Writer
}

// Progress is where Interleave reports the turns it has given: a bar on
// a terminal, a line every few seconds elsewhere. Total is the number of
// repetitions (warm-ups included) each side will announce.
type Progress struct {
	W        io.Writer // nil is silent
	Terminal bool
	Total    int
}

// Interleave runs the sides in lockstep until every one has finished its
// sweep. It fails if they announce different repetitions or one ends
// before the others. When ctx is cancelled every side gets one SIGINT,
// which stops its sweep cleanly (it releases what it set up and marks its
// directory interrupted), and Interleave waits for all of them. The sides
// run quietly; Interleave reports their progress, one step per
// repetition every side has run.
func Interleave(ctx context.Context, sides []Side, prog Progress) (err error) {
	bar := newProgress(prog.W, prog.Terminal, prog.Total)
	defer bar.finish()
	var rs []*running
	// Whatever happens, no side outlives the call: closing its turns
	// pipe ends its sweep (its next Step fails), and Wait reaps it.
	defer func() {
		for _, r := range rs {
			r.turns.Close()
		}
		var exits []string
		for _, r := range rs {
			if werr := r.cmd.Wait(); werr != nil {
				exits = append(exits, fmt.Sprintf("%s: %v", r.Name, werr))
			}
			r.pipe.Close()
		}
		switch {
		case ctx.Err() != nil:
			err = ctx.Err()
		case len(exits) > 0 && err == nil:
			err = fmt.Errorf("the interleaved sweeps failed (%s); their messages are above", strings.Join(exits, "; "))
		case len(exits) > 0:
			err = fmt.Errorf("%w (%s)", err, strings.Join(exits, "; "))
		}
	}()
	for _, s := range sides {
		r, err := start(ctx, s)
		if err != nil {
			return err
		}
		rs = append(rs, r)
	}
	// A cancelled run gives no more turns: closing the pipes ends every
	// side's wait, and the SIGINT ends what it is running.
	defer context.AfterFunc(ctx, func() {
		for _, r := range rs {
			r.turns.Close()
		}
	})()
	return takeTurns(ctx, rs, bar)
}

// running is a side started under Interleave.
type running struct {
	Side
	cmd   *exec.Cmd
	turns *os.File
	pipe  *os.File // what ready reads
	ready *bufio.Scanner
	next  string // the repetition it announced; "" once it ended
}

// start starts a side with the lockstep pipes as its fds 3 and 4.
func start(ctx context.Context, s Side) (*running, error) {
	turnsR, turnsW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		turnsR.Close()
		turnsW.Close()
		return nil, err
	}
	cmd := exec.CommandContext(ctx, s.Path, s.Args...)
	cmd.Stdout, cmd.Stderr = s.Stdout, s.Stderr
	cmd.Env = append(append(os.Environ(), s.Env...), lockstepEnv+"=1")
	cmd.ExtraFiles = []*os.File{turnsR, readyW}
	// Its own process group: a Ctrl-C at the terminal reaches the
	// driver alone, which passes exactly one on.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	err = cmd.Start()
	turnsR.Close()
	readyW.Close()
	if err != nil {
		turnsW.Close()
		readyR.Close()
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	return &running{Side: s, cmd: cmd, turns: turnsW, pipe: readyR, ready: bufio.NewScanner(readyR)}, nil
}

// advance reads the repetition r announces next ("" once it ended).
func (r *running) advance() {
	r.next = ""
	if r.ready.Scan() {
		r.next = r.ready.Text()
	}
}

// takeTurns gives the sides their turns, run by run, until all have
// ended or ctx is done.
func takeTurns(ctx context.Context, rs []*running, bar *progress) error {
	for _, r := range rs {
		r.advance()
	}
	for ctx.Err() == nil {
		ended := 0
		for _, r := range rs {
			if r.next == "" {
				ended++
			}
		}
		switch {
		case ended == len(rs):
			return nil
		case ended > 0:
			for _, r := range rs {
				if r.next == "" {
					return fmt.Errorf("%s stopped before the other side's sweep ended", r.Name)
				}
			}
		}
		rep, start, order, err := repetitionStart(rs)
		if err != nil {
			return err
		}
		// The repetition's first runs, then its further runs round by
		// round, the order reversed each round, while any side has more.
		for round := 0; len(order) > 0; round++ {
			if round%2 == 1 {
				slices.Reverse(order)
			}
			for _, r := range order {
				turn := "go\n"
				if round == 0 {
					turn = start
				}
				if _, err := io.WriteString(r.turns, turn); err != nil {
					return fmt.Errorf("%s: %w", r.Name, err)
				}
				r.advance()
			}
			more := order[:0]
			for _, r := range order {
				if at, run, _ := announced(r.next); run > 0 {
					if at != rep {
						return divergedError(rs[0].Name, rep, r.Name, at)
					}
					more = append(more, r)
				}
			}
			order = more
			if round%2 == 1 {
				slices.Reverse(order) // back to this repetition's order
			}
		}
		cell, _, _ := strings.Cut(rep, " ")
		bar.step(cell)
	}
	return nil // the deferred Wait collects how each side ended
}

// repetitionStart checks that every side announced the same repetition
// and returns it, the turn that starts it ("go", or "go <runs>" when
// every side named its count of runs: the most any named), and the order
// the sides take their first turns in.
func repetitionStart(rs []*running) (rep, start string, order []*running, err error) {
	rep, _, _ = announced(rs[0].next)
	agreed, named := 0, true
	for _, r := range rs {
		at, run, runs := announced(r.next)
		if run > 0 || at != rep {
			return "", "", nil, divergedError(rs[0].Name, rep, r.Name, at)
		}
		agreed, named = max(agreed, runs), named && runs > 0
	}
	start = "go\n"
	if named {
		start = fmt.Sprintf("go %d\n", agreed)
	}
	// Who goes first turns with the repetition, so that every cell has
	// each side first equally often. (Turning with the step would not:
	// with an even number of cells in a round, a cell would always see
	// the same side first, and the side that goes second after the other
	// ran the same cell measures a few percent faster.)
	first := 0
	if i := strings.LastIndexByte(rep, ' '); i >= 0 {
		if n, err := strconv.Atoi(rep[i+1:]); err == nil {
			first = ((n % len(rs)) + len(rs)) % len(rs)
		}
	}
	for i := range rs {
		order = append(order, rs[(first+i)%len(rs)])
	}
	return rep, start, order, nil
}

func divergedError(a, at, b, bt string) error {
	return fmt.Errorf("the interleaved sweeps diverged: %s is at %s, %s at %s; the sides must run the same spec and repetitions", a, at, b, bt)
}
