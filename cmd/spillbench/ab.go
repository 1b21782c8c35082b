package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spillbench/spillbench/bench"
	"github.com/spillbench/spillbench/injectors"
)

func abCmd(stdout, stderr io.Writer, args []string) error {
	fs := newFlags(stderr, "ab", `  spillbench ab                                 the merge base against the working tree, ci spec
  spillbench ab --base main --spec default --threshold 3%
  spillbench ab --base ./old-spillbench --head ./new-spillbench --format markdown > comment.md

Exit status: 0 no regression, 1 a regression, 2 bad input or a build or
sweep that failed, 130 interrupted.
`)
	base := fs.String("base", "", "a git revision or a spillbench binary (default: the merge base with the upstream branch)")
	head := fs.String("head", "", "a spillbench binary (default: the working tree, built)")
	specName := fs.String("spec", "ci", "sweep spec both sides run: a built-in name or a YAML file")
	out := fs.String("out", "", "directory for the two result directories, base/ and head/ (default ./out/ab-<time>)")
	count := fs.Int("count", 0, "repetitions per cell (default: the spec's max-count)")
	perProcess := perProcessFlag(fs)
	plant := fs.String("plant", "", "testing the tools only: plant a slowdown in the head's cells matching REGEXP, as REGEXP=5% (see run --plant)")
	cpus := fs.String("cpus", "one", cpusUsage)
	c := compareFlags{stderr: stderr}
	c.register(fs)
	quiet := fs.Bool("q", false, "no progress output")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := c.check("ab"); err != nil {
		return err
	}
	if *count < 0 {
		return usagef("ab: --count %d; give a positive number of repetitions", *count)
	}
	if err := checkPerProcess("ab", *perProcess); err != nil {
		return err
	}
	if *plant != "" {
		if _, err := bench.ParsePlant(*plant); err != nil {
			return usagef("ab: --plant: %v", err)
		}
	}
	spec, err := bench.LoadSpec(*specName)
	if err != nil {
		return usagef("ab: %v", err)
	}
	cpuList, pinned, err := sideCPUs("ab", *cpus)
	if err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("out", "ab-"+time.Now().Format("20060102-150405"))
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return usagef("ab: --out %s is not empty; give a new directory", dir)
	}

	ctx, stop := interruptible()
	defer stop()
	defer injectors.Resources.ReleaseAll()
	say := func(format string, args ...any) {
		if !*quiet {
			fmt.Fprintf(stderr, "spillbench: ab: "+format+"\n", args...)
		}
	}
	baseBin, baseName, err := resolveSide(ctx, "base", *base, say)
	if err != nil {
		return failedError{err}
	}
	headBin, headName, err := resolveSide(ctx, "head", *head, say)
	if err != nil {
		return failedError{err}
	}
	say("%s against %s, %s spec, runs interleaved, %s", baseName, headName, spec.Name, pinned)
	pin := pinArgs(cpuList)
	sides := []bench.Side{{Name: "base", Path: baseBin, Args: pin}, {Name: "head", Path: headBin, Args: pin}}
	if *plant != "" {
		sides[1].Args = append(slices.Clone(pin), "--plant", *plant)
	}
	dirs, err := interleaved(ctx, spec, dir, *count, *perProcess, sides, stderr, progressTo(stderr, *quiet))
	if err != nil {
		return failedError{err}
	}
	return c.compare(stdout, dirs[:1], dirs[1:])
}

// cpusUsage documents --cpus of the commands that run interleaved sides.
const cpusUsage = "CPUs each side's sweep is pinned to: one (the last this process may use), all (no pinning), or a list such as 1 or 0-1"

// sideCPUs reads --cpus of ab and calibrate and returns the CPUs each
// side is pinned to (none: not pinned), and a phrase saying so.
//
// Both sides default to one CPU. A 2-vCPU VM's CPUs change speed
// independently, second by second, by up to a third as the host's other
// tenants come and go; a run spread over both lands its critical path on
// whichever it happens to, so each run draws its own speed and two runs
// a moment apart differ by several percent. Pinned to one CPU, the runs
// of the two sides, taken in turns, meet the same CPU at the same speed:
// on the quick spec the threshold calibrate recommends fell from 11-13%
// to 4.0-5.5%. One CPU measures the work the code does, concurrency included
// but not the parallel speed-up; --cpus all measures that, at the
// resolution the host allows.
func sideCPUs(cmd, value string) (cpus []int, what string, err error) {
	switch value {
	case "all":
		return nil, "on every CPU", nil
	case "one":
		allowed := bench.AllowedCPUs()
		if len(allowed) < 2 {
			return nil, "on this machine's one CPU", nil
		}
		value = strconv.Itoa(allowed[len(allowed)-1])
	}
	cpus, err = bench.ParseCPUs(value)
	if err == nil {
		err = bench.CheckCPUs(cpus)
	}
	if err != nil {
		return nil, "", usagef("%s: --cpus: %v (or one, or all)", cmd, err)
	}
	return cpus, "each side pinned to CPU " + value, nil
}

// pinArgs are the run arguments that pin a side to cpus.
func pinArgs(cpus []int) []string {
	if len(cpus) == 0 {
		return nil
	}
	list := make([]string, len(cpus))
	for i, c := range cpus {
		list[i] = strconv.Itoa(c)
	}
	return []string{"--cpus", strings.Join(list, ",")}
}

// interleaved runs spec on every side under bench.Interleave, count
// repetitions of every cell (0: the spec's most), into dir/<side name>,
// and returns those directories. A side's Args are added to the run
// command's. Both sides read the same spec file, written to
// dir/spec.yaml, so a built-in spec that differs between two revisions
// cannot make them run different cells.
//
// Every perProcess repetitions (0: never) the sides start afresh, each
// batch in its own pair of processes and result directories
// (dir/<side>/p00, p01, ...). Two processes of one binary can differ for
// as long as they live (where their memory landed, among other things),
// and the pairs of one pair of processes share that difference: the
// signed-rank test, which takes its pairs for independent, then finds it
// significant. In quick A/A and planted runs on the 2-core VM, 9 of 360
// unplanted rows compared in one pair of processes were significant after
// Holm, against 2 of 336 with a pair per repetition, whose typical
// detectable change was no wider (median 4.9% against 5.0-5.8%). A pair
// per repetition costs about a quarter more time on the ci spec and half
// more on quick, and is the default (perProcessFlag). Which side goes
// first alternates between batches as within them.
//
// Progress goes to progress (nil: none), a step per repetition both sides
// have run.
func interleaved(ctx context.Context, spec *bench.Spec, dir string, count, perProcess int, sides []bench.Side, stderr, progress io.Writer) ([]string, error) {
	if count == 0 {
		count = max(spec.Count, spec.MaxCount)
	}
	if perProcess == 0 || perProcess > count {
		perProcess = count
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	specPath, err := filepath.Abs(filepath.Join(dir, "spec.yaml"))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(specPath, spec.Source, 0o644); err != nil {
		return nil, err
	}
	var dirs []string
	for _, s := range sides {
		dirs = append(dirs, filepath.Join(dir, s.Name))
	}
	prog := bench.Progress{W: progress, Terminal: isTerminal(progress)}
	batches := (count + perProcess - 1) / perProcess
	prog.Total = len(spec.Cells()) * (batches*spec.Warmup + count)
	for batch, done := 0, 0; done < count; batch++ {
		n := min(perProcess, count-done)
		// The token ties the batch's result directories together:
		// compare pairs their repetitions only if both carry it.
		token := fmt.Sprintf("%s-%d-%d-p%02d", filepath.Base(dir), os.Getpid(), time.Now().UnixNano(), batch)
		run := make([]bench.Side, len(sides))
		outs := make([]bytes.Buffer, len(sides))
		for i, s := range sides {
			args := []string{"run", "--lockstep", token, "-q", "--spec", specPath, "--count", strconv.Itoa(n),
				"--out", filepath.Join(dirs[i], fmt.Sprintf("p%02d", batch))}
			s.Args = append(args, s.Args...) // the side's own last
			s.Stdout, s.Stderr = &outs[i], &prefixWriter{w: stderr, prefix: s.Name + ": "}
			run[i] = s
		}
		if batch%2 == 1 {
			slices.Reverse(run) // the other side first
		}
		if err := bench.Interleave(ctx, run, prog); err != nil {
			for i := range outs {
				if s := strings.TrimSpace(outs[i].String()); s != "" {
					fmt.Fprintf(stderr, "%s: %s\n", sides[i].Name, s)
				}
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		done += n
	}
	return dirs, nil
}

// perProcessFlag registers --per-process, the repetitions each pair of
// processes runs (see interleaved): by default a new pair for every one.
func perProcessFlag(fs *flags) *int {
	return fs.Int("per-process", 1, "repetitions of every cell a pair of processes runs before both sides start afresh (0: all in one pair, faster, but a difference between two processes then reads as a change)")
}

// checkPerProcess refuses a negative --per-process.
func checkPerProcess(cmd string, n int) error {
	if n < 0 {
		return usagef("%s: --per-process %d; give a number of repetitions, or 0 for all in one pair of processes", cmd, n)
	}
	return nil
}

// resolveSide returns the spillbench binary of a side: the file named, or
// one built from a git revision (in a temporary worktree), or for an empty
// name the base's merge base with the upstream branch or the head's
// working tree. Built binaries live in temp dirs the registry removes;
// the worktree is registered too, so that a second Ctrl-C removes it.
func resolveSide(ctx context.Context, side, name string, say func(string, ...any)) (bin, label string, err error) {
	defer func() {
		if ctx.Err() != nil {
			err = ctx.Err() // interrupted: whatever failed, that is why
		}
	}()
	if name != "" {
		if fi, serr := os.Stat(name); serr == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			if bin, err = filepath.Abs(name); err != nil {
				return "", "", err
			}
			return bin, name, takesTurns(ctx, side, name, bin)
		}
	}
	top, err := gitOutput(ctx, "", "rev-parse", "--show-toplevel")
	if err != nil {
		if name == "" {
			return "", "", usagef("ab: the %s is built from this git checkout by default, and this is not one (%v); give --%s", side, err, side)
		}
		return "", "", usagef("ab: --%s %q is not an executable file, and this is not a git checkout to build it from: %v", side, name, err)
	}
	tmp, dir, err := injectors.NewTempDir("ab")
	if err != nil {
		return "", "", err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, dir.Release())
		}
	}()
	bin, src, label := filepath.Join(tmp, "spillbench"), top, "the working tree"
	if side != "head" || name != "" {
		rev := name
		if rev == "" {
			if rev, err = gitOutput(ctx, top, "merge-base", "HEAD", "@{upstream}"); err != nil {
				return "", "", usagef("ab: no upstream branch to find the merge base with (%v); give --base REV", err)
			}
		}
		var commit string
		if commit, err = gitOutput(ctx, top, "rev-parse", "--verify", rev+"^{commit}"); err != nil {
			return "", "", usagef("ab: --%s %q is neither an executable file nor a git revision", side, rev)
		}
		label = fmt.Sprintf("%s (%.12s)", rev, commit)
		if rev == commit {
			label = commit[:min(12, len(commit))]
		}
		src = filepath.Join(tmp, "src")
		wt := injectors.Resources.Add("worktree", src, func() error {
			_, rerr := gitOutput(context.Background(), top, "worktree", "remove", "--force", src)
			if rerr != nil { // half added, or removed by hand: forget it
				_, perr := gitOutput(context.Background(), top, "worktree", "prune")
				rerr = errors.Join(os.RemoveAll(src), perr)
			}
			return rerr
		})
		defer func() { err = errors.Join(err, wt.Release()) }()
		if _, err = gitOutput(ctx, top, "worktree", "add", "--detach", src, commit); err != nil {
			return "", "", err
		}
	}
	say("building %s", label)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/spillbench")
	build.Dir = src
	if msg, berr := build.CombinedOutput(); berr != nil {
		return "", "", fmt.Errorf("ab: building %s: %v: %s", label, berr, firstLine(strings.TrimSpace(string(msg))))
	}
	return bin, label, takesTurns(ctx, side, label, bin)
}

// takesTurns checks that a side's binary speaks the lockstep protocol:
// one built before it cannot be interleaved.
func takesTurns(ctx context.Context, side, label, bin string) error {
	out, _ := exec.CommandContext(ctx, bin, "run", "-h").CombinedOutput()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !bytes.Contains(out, []byte("-lockstep")) {
		return usagef("ab: the %s, %s, is not a spillbench that takes turns (run --lockstep): give a --%s built since spillbench ab came", side, label, side)
	}
	return nil
}

// gitOutput runs git in dir and returns its trimmed output.
func gitOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(errb.String()); msg != "" {
			return "", fmt.Errorf("git %s: %s", args[0], firstLine(msg))
		}
		return "", fmt.Errorf("git %s: %w", args[0], err)
	}
	return strings.TrimSpace(string(out)), nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// prefixWriter prefixes every line written through it. The sides write
// from their own goroutines: each line goes out whole, in one write.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	line   []byte // the unfinished line
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		line, rest, found := bytes.Cut(b, []byte("\n"))
		p.line = append(p.line, line...)
		if !found {
			break
		}
		out := append(append([]byte(p.prefix), p.line...), '\n')
		p.line = p.line[:0]
		if _, err := p.w.Write(out); err != nil {
			return 0, err
		}
		b = rest
	}
	return n, nil
}
