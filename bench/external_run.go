package bench

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/perf/benchfmt"

	"github.com/spillbench/spillbench/injectors"
	"github.com/spillbench/spillbench/spill"
)

// ExternalOutcome is what outcomes.jsonl records of one run of an
// external target, beside the fields it shares with the engine's (exit
// code, status, fault).
type ExternalOutcome struct {
	Template string `json:"template"` // the spec's command
	Command  string `json:"command"`  // as run, placeholders filled
	PGID     int    `json:"pgid"`     // the process group it ran in, gone when the run was recorded
	Signal   string `json:"signal,omitempty"`
	// Verdict on the output: verified (its digest is the reference
	// run's, or the verify command passed), corrupt, or missing.
	Verdict         string   `json:"verdict"`
	OutputBytes     int64    `json:"output_bytes"`
	OutputDigest    string   `json:"output_digest,omitempty"`
	ReferenceDigest string   `json:"reference_digest,omitempty"`
	StderrTail      []string `json:"stderr_tail,omitempty"`
	// ReportedErrno is the errno the target's stderr named last (see
	// stderrErrno): what the program says it met, which need not be the
	// errno the injector recorded.
	ReportedErrno string  `json:"reported_errno,omitempty"`
	UserMS        float64 `json:"user_ms"`
	// OthersPct is the share of the host's CPU other processes used
	// during the run (see procRun.Others).
	OthersPct float64 `json:"others_cpu_pct"`
	SysMS     float64 `json:"sys_ms"`
	MaxRSS    int64   `json:"max_rss_bytes"`
	// What the target did in its spill directory, seen by inotify.
	SpillPeak    int64 `json:"spill_peak_bytes"`
	SpillWritten int64 `json:"spill_written_bytes"`
	SpillFiles   int   `json:"spill_files"`
	SpillFull    bool  `json:"spill_fs_full,omitempty"`
	Overflow     bool  `json:"inotify_overflow,omitempty"`
	InputBytes   int64 `json:"input_bytes"`
}

// Output verdicts.
const (
	VerdictVerified = "verified"
	VerdictCorrupt  = "corrupt"
	VerdictMissing  = "missing"
)

// Outcome statuses of external targets beyond the engine's.
const (
	// StatusCrash: the target died by a signal or exited with a code
	// its spec does not list as a clean error.
	StatusCrash Status = "crash"
	// StatusNotApplicable: the fault works on the engine's spill.FS
	// seam, which an external process does not use.
	StatusNotApplicable Status = "not-applicable"
)

// externalInput is an input made ready for a sweep.
type externalInput struct {
	path      string
	size      int64
	reference string // the SHA-256 of a fault-free run's output
}

// externalSweep is what a sweep of an external target prepares once:
// its inputs and the reference outputs' digests, in a work dir of its own.
type externalSweep struct {
	dir    string
	handle injectors.Handle
	inputs map[string]*externalInput
}

// prepareExternal makes the spec's inputs and, for digest verification,
// runs the target once per input without a fault, at the largest
// threshold, for the reference digest. A reference that fails is an
// error: the sweep could verify nothing.
func prepareExternal(ctx context.Context, spec *Spec) (*externalSweep, error) {
	dir, h, err := injectors.NewTargetDir("inputs")
	if err != nil {
		return nil, err
	}
	x := &externalSweep{dir: dir, handle: h, inputs: map[string]*externalInput{}}
	for _, in := range spec.Inputs {
		xi, err := x.makeInput(ctx, spec, in)
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			} else {
				err = &SpecError{spec.SourceName, in.Line, fmt.Sprintf("input %s: %v", in.Name, err)}
			}
			return nil, errors.Join(err, x.close())
		}
		x.inputs[in.Name] = xi
	}
	if spec.Target.VerifyCommand != "" {
		return x, nil
	}
	top := spec.Thresholds[0]
	for _, t := range spec.Thresholds {
		top = max(top, t)
	}
	for _, in := range spec.Inputs {
		xi := x.inputs[in.Name]
		c := Cell{Kind: KindExternal, Target: spec.Target, Input: &in, Threshold: top, Fault: FaultSpec{Injector: "none"}}
		res, err := runTarget(ctx, c, xi, nil, "")
		switch {
		case err != nil:
		case res.run.TimedOut:
			err = fmt.Errorf("it passed its %v time limit", spec.Target.TimeLimit)
		case res.run.Exit != 0:
			err = fmt.Errorf("exit %d, stderr %q", res.run.Exit, strings.Join(res.tail, " / "))
		case res.outputBytes < 0:
			err = errors.New("it wrote no {output}")
		}
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			} else {
				err = &SpecError{spec.SourceName, spec.Target.Line, fmt.Sprintf("the reference run of %s on input %s, without a fault at %s, failed: %v",
					spec.Target.Name, in.Name, spill.FormatSize(top), err)}
			}
			return nil, errors.Join(err, x.close())
		}
		xi.reference = res.digest
	}
	return x, nil
}

func (x *externalSweep) close() error {
	if x == nil {
		return nil
	}
	return x.handle.Release()
}

// makeInput makes one input: a file as it is, generated lines, or a
// generator command's output.
func (x *externalSweep) makeInput(ctx context.Context, spec *Spec, in Input) (*externalInput, error) {
	path := filepath.Join(x.dir, in.Name)
	switch {
	case in.File != "":
		path = in.File
	case in.Generate == "lines":
		if err := generateLines(path, in.Size, spec.Seed); err != nil {
			return nil, err
		}
	case in.Command != "":
		run, err := runGroup(ctx, fillTemplate(in.Command, map[string]string{"input": path}), x.dir, x.dir,
			filepath.Join(x.dir, in.Name+".stderr"), spec.Target.TimeLimit)
		if err == nil && run.Exit != 0 {
			err = fmt.Errorf("the generator exited %d: %q", run.Exit, stderrTail(filepath.Join(x.dir, in.Name+".stderr"), 3))
		}
		if err != nil {
			return nil, err
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return &externalInput{path: path, size: st.Size()}, nil
}

// generateLines writes size bytes of text lines, 8 to 120 printable
// characters each, from the seed: the same file every sweep.
func generateLines(path string, size int64, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(seed, 0x5350494c4c))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.-"
	line := make([]byte, 0, 128)
	for n := int64(0); n < size; {
		line = line[:0]
		for range 8 + rng.IntN(113) {
			line = append(line, alphabet[rng.IntN(len(alphabet))])
		}
		line = append(line, '\n')
		if left := size - n; int64(len(line)) > left {
			line = append(line[:left-1], '\n')
		}
		w.Write(line)
		n += int64(len(line))
	}
	return errors.Join(w.Flush(), f.Close())
}

// targetResult is one run of an external target, with its spill
// directory's figures and the verdict on its output.
type targetResult struct {
	run         procRun
	spill       spillStats
	tail        []string
	command     string
	outputBytes int64 // -1: no output file
	digest      string
	verdict     string
	setup       time.Duration
	teardown    time.Duration
	fault       *FaultOutcome
}

// runTarget runs one repetition of an external cell: its work dir, the
// injector's setup and fault where the cell has one, the command in its
// process group, the verdict, and the teardown, the group killed and
// gone before the fault is released.
func runTarget(ctx context.Context, c Cell, in *externalInput, inj injectors.Injector, reference string) (res targetResult, err error) {
	start := time.Now()
	work, h, err := injectors.NewTargetDir("target")
	if err != nil {
		return res, err
	}
	defer func() {
		tstart := time.Now()
		var terr error
		if inj != nil {
			terr = inj.Teardown()
		}
		err = errors.Join(err, terr, h.Release())
		res.teardown = time.Since(tstart)
	}()
	scratch, spillDir := filepath.Join(work, "scratch"), filepath.Join(work, "spill")
	if err := os.Mkdir(scratch, 0o700); err != nil {
		return res, err
	}
	if inj != nil {
		s, serr := inj.Setup(ctx)
		if serr == nil {
			serr = inj.Arm(c.Fault.Fault)
		}
		if serr != nil {
			return res, serr
		}
		spillDir = s.Dir
	}
	if err := os.MkdirAll(spillDir, 0o700); err != nil {
		return res, err
	}
	output := filepath.Join(work, "output")
	res.command = fillTemplate(c.Target.Command, map[string]string{
		"spill_dir": spillDir, "threshold": itoa(c.Threshold), "input": in.path, "output": output, "scratch": scratch})
	capFS := c.Fault.Injector == "tmpfs" || c.Fault.Injector == "fallocate"
	watch, err := watchSpill(spillDir, inj, capFS)
	if err != nil {
		return res, fmt.Errorf("watch %s: %w", spillDir, err)
	}
	res.setup = time.Since(start)
	stderrPath := filepath.Join(work, "stderr")
	res.run, err = runGroup(ctx, res.command, scratch, work, stderrPath, c.Target.TimeLimit)
	res.spill = watch.stop()
	if err != nil {
		return res, err
	}
	res.tail = stderrTail(stderrPath, 5)
	res.outputBytes, res.digest, err = digestFile(output)
	if err != nil {
		return res, err
	}
	res.verdict, err = verdict(ctx, c.Target, res, in, reference, work, scratch, output)
	if inj != nil {
		res.fault = externalFault(c, inj, res)
	}
	return res, err
}

// digestFile is a file's size and SHA-256; size -1 if it does not exist.
func digestFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return -1, "", nil
	}
	if err != nil {
		return -1, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

// verdict judges a run's output: missing without an output file;
// otherwise verified or corrupt, by the reference digest or the verify
// command.
func verdict(ctx context.Context, t *Target, res targetResult, in *externalInput, reference, work, scratch, output string) (string, error) {
	if res.outputBytes < 0 {
		return VerdictMissing, nil
	}
	if t.VerifyCommand == "" {
		if reference == "" || res.digest == reference {
			return VerdictVerified, nil
		}
		return VerdictCorrupt, nil
	}
	cmd := fillTemplate(t.VerifyCommand, map[string]string{"input": in.path, "output": output, "scratch": scratch})
	run, err := runGroup(ctx, cmd, scratch, work, filepath.Join(work, "verify.stderr"), t.TimeLimit)
	if err != nil {
		return "", fmt.Errorf("verify: %w", err)
	}
	if run.Exit == 0 {
		return VerdictVerified, nil
	}
	return VerdictCorrupt, nil
}

// externalFault is what the cell's fault did, from the injector's own
// observations (the FUSE server's, vanish's) and from the target's side:
// a capped filesystem it filled, and an errno its stderr names.
func externalFault(c Cell, inj injectors.Injector, res targetResult) *FaultOutcome {
	f := &FaultOutcome{Injector: inj.Name(), Mode: string(c.Fault.Fault.Mode), Quiet: c.Fault.Quiet, Family: string(inj.Family())}
	for _, r := range inj.Requires() {
		f.Requires = append(f.Requires, string(r))
	}
	obs := inj.Observations()
	if res.spill.Full {
		obs = append(obs, injectors.Observation{Time: time.Now(), Mode: c.Fault.Fault.Mode, Op: "statfs", Offset: -1, Call: 1,
			Note: "the target filled the capped filesystem"})
	}
	if errno, line := stderrErrno(res.tail); errno != "" && !c.Fault.Quiet {
		obs = append(obs, injectors.Observation{Time: time.Now(), Mode: c.Fault.Fault.Mode, Errno: errno, Op: "target", Offset: -1, Call: 1,
			Note: "the target's stderr: " + line})
	}
	f.Summary = injectors.Summarize(obs)
	f.Observations = obs[:min(len(obs), 8)]
	return f
}

// classify sets an external run's status, in the engine's order: data
// lost first, then a crash, a fault that did not fire, a clean error.
func (o *Outcome) classify(t *Target, res targetResult) {
	f := res.fault
	exit := t.exitClass(res.run.Exit, res.run.Signal != "")
	switch {
	case exit == "ok" && res.verdict != VerdictVerified:
		o.Status, o.Reason = StatusDataLost, fmt.Sprintf("exit 0 with output %s", res.verdict)
	case exit == "crash":
		o.Status, o.Reason = StatusCrash, fmt.Sprintf("exit %d%s, not a clean error (clean-exit %v)", res.run.Exit, sigText(res.run.Signal), t.CleanExit)
	case f != nil && f.Quiet && f.Fired:
		o.Status, o.Reason = StatusNotFired, "a quiet fault fired: the run measured more than the mechanism's own cost"
	case f != nil && !f.Quiet && !f.Fired:
		o.Status, o.Reason = StatusNotFired, "the fault never happened: the run is no evidence about it"
	case exit == "clean":
		o.Status = StatusError
	default:
		o.Status = StatusOK
	}
}

func sigText(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// runExternalCell runs one repetition of an external cell (rep < 0 is a
// warm-up) and records it. Only a failure to write results is returned.
func (r *runner) runExternalCell(ctx context.Context, st *cellState, rep int) error {
	c := st.c
	defer r.progress.step(c.Name())
	o := Outcome{Cell: c.Name(), Kind: c.Kind, Keys: map[string]string{}, Rep: rep}
	for _, kv := range c.Keys() {
		o.Keys[kv[0]] = kv[1]
	}
	var inj injectors.Injector
	if c.Fault.Injector != "none" {
		inj, _ = injectors.ByName(c.Fault.Injector)
		reason := ""
		if inj.Family() != injectors.Kernel {
			o.Status = StatusNotApplicable
			reason = fmt.Sprintf("not applicable to an external process: %s injects in the engine's spill.FS seam, which %s does not call", inj.Name(), c.Target.Name)
		} else if err := injectors.ProbeMode(inj, c.Fault.Fault.Mode); err != nil {
			o.Status, reason = StatusSkipped, err.Error()
		}
		if reason != "" {
			if rep < 0 {
				return nil
			}
			st.recorded++
			o.Reason = reason
			r.sum.Skipped[c.Name()] = reason
			r.env.Skipped++
			return r.dir.outcome(o)
		}
	}
	in := r.ext.inputs[c.Input.Name]
	res, err := runTarget(ctx, c, in, inj, in.reference)
	r.env.OverheadSeconds.SetupTeardown += (res.setup + res.teardown).Seconds()
	if rep < 0 {
		r.env.OverheadSeconds.Warmup += res.run.Wall.Seconds()
		return nil
	}
	o.SetupMS, o.TeardownMS = ms(res.setup), ms(res.teardown)
	o.Runs, o.WallMS, o.CPUMS, o.ExitCode = 1, ms(res.run.Wall), ms(res.run.User+res.run.Sys), res.run.Exit
	o.Fault = res.fault
	o.External = &ExternalOutcome{Template: c.Target.Command, Command: res.command, PGID: res.run.PGID, Signal: res.run.Signal, Verdict: res.verdict, OutputBytes: res.outputBytes,
		OutputDigest: res.digest, ReferenceDigest: in.reference, StderrTail: res.tail, UserMS: ms(res.run.User), OthersPct: 100 * res.run.Others, SysMS: ms(res.run.Sys),
		MaxRSS: res.run.MaxRSS, SpillPeak: res.spill.Peak, SpillWritten: res.spill.Written, SpillFiles: res.spill.Files,
		SpillFull: res.spill.Full, Overflow: res.spill.Overflow, InputBytes: in.size}
	o.External.ReportedErrno, _ = stderrErrno(res.tail)
	switch {
	case err != nil:
		o.Status, o.Reason = StatusSetupFailed, err.Error()
	case res.run.Cancelled:
		o.Status, o.Reason = StatusInterrupted, "the sweep was interrupted during this run; its process group was killed"
	case res.run.TimedOut:
		o.Status, o.Reason = StatusTimeout, fmt.Sprintf("the run passed the target's %v time limit; its process group was killed", c.Target.TimeLimit)
	default:
		o.classify(c.Target, res)
		if len(res.tail) > 0 {
			o.Error = res.tail[len(res.tail)-1]
		}
	}
	if err := r.recordExternal(st, o, res); err != nil || !res.run.Cancelled {
		return err
	}
	// Interrupted: the group is gone and the fault released; start
	// nothing new.
	r.env.Interrupted = true
	return ctx.Err()
}

// recordExternal writes an external run's outcome, and for one that
// passed without a fault its result line and the RawFS limit beside it.
func (r *runner) recordExternal(st *cellState, o Outcome, res targetResult) error {
	c := st.c
	if !o.externalPassed() {
		r.failed(c, o)
	}
	r.env.Recorded++
	st.recorded++
	r.env.MeasuredSeconds += res.run.Wall.Seconds()
	if err := r.dir.outcome(o); err != nil {
		return err
	}
	if o.Status != StatusOK {
		return nil
	}
	in := r.ext.inputs[c.Input.Name]
	wall := res.run.Wall
	st.ns = append(st.ns, float64(wall.Nanoseconds()))
	if err := r.dir.result(c.Name(), []benchfmt.Value{
		{Value: float64(wall.Nanoseconds()), Unit: "ns/op"},
		{Value: float64((res.run.User + res.run.Sys).Nanoseconds()), Unit: "cpu-ns/op"},
		{Value: float64(in.size) / wall.Seconds(), Unit: "input-B/s"},
		{Value: float64(res.spill.Written), Unit: "spill-bytes/op"},
		{Value: float64(res.spill.Peak), Unit: "peak-spill-B"},
		{Value: float64(res.run.MaxRSS), Unit: "peak-rss-B"},
	}); err != nil {
		return err
	}
	if c.Fault.Injector == "none" && res.spill.Written > 0 {
		start := time.Now()
		defer func() { r.env.OverheadSeconds.Limits += time.Since(start).Seconds() }()
		// What the target wrote to its spill directory, written and
		// read back once, as a merge of spilled runs reads them.
		return r.rawFS(c, spill.Stats{BytesWritten: res.spill.Written, BytesRead: res.spill.Written})
	}
	return nil
}

// externalPassed reports whether an external target's repetition counts
// as a pass. Without a fault it must have run clean. Under a fault, what
// the program did (a clean error, a crash, output lost) is the finding
// the sweep is there to record, not a failure of the sweep; a run that
// timed out, was interrupted or whose fault could not be set up measured
// nothing.
func (o *Outcome) externalPassed() bool {
	if o.Fault == nil || o.Fault.Quiet {
		return o.Status == StatusOK
	}
	switch o.Status {
	case StatusTimeout, StatusInterrupted, StatusSetupFailed:
		return false
	}
	return true
}
