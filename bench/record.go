package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/perf/benchfmt"

	"github.com/spillbench/spillbench/engine"
	"github.com/spillbench/spillbench/injectors"
	"github.com/spillbench/spillbench/internal/atomicfile"
	"github.com/spillbench/spillbench/spill"
)

// Status is how one repetition of a cell ended, as outcomes.jsonl says.
type Status string

const (
	StatusOK          Status = "ok"               // ran to the end, everything delivered
	StatusError       Status = "error"            // stopped on a typed error, nothing lost
	StatusDataLost    Status = "data-lost"        // items lost, duplicated or corrupted
	StatusSkipped     Status = "skipped"          // the injector is unavailable here
	StatusInterrupted Status = "interrupted"      // the sweep was interrupted during the run
	StatusTimeout     Status = "timeout"          // the run passed the spec's timeout
	StatusNotFired    Status = "fault-not-fired"  // a fault cell whose fault never happened
	StatusOffTarget   Status = "fault-off-target" // it happened at another site than the target
	StatusSetupFailed Status = "setup-failed"     // the injector could not be set up or armed
)

// Passed reports whether a status can count as a pass. A fault cell whose
// fault did not fire, or fired elsewhere, is not one, whatever the engine
// did; whether an error passes depends on the cell (see Outcome.Passed).
func (s Status) Passed() bool { return s == StatusOK || s == StatusError }

// Passed reports whether a repetition counts as a pass: it ran to the end
// with everything delivered, or it stopped on a typed error that an
// injected fault caused. An error where no fault was injected (or only a
// quiet one, which must not disturb the run) is a failure: a full TMPDIR
// under a fault-free cell measured nothing.
func (o *Outcome) Passed() bool {
	if o.Status == StatusError {
		return o.Fault != nil && !o.Fault.Quiet
	}
	return o.Status.Passed()
}

// Outcome is one line of outcomes.jsonl: one repetition of one cell.
type Outcome struct {
	Cell   string            `json:"cell"`
	Kind   Kind              `json:"kind"`
	Keys   map[string]string `json:"keys"`
	Rep    int               `json:"rep"`
	Status Status            `json:"status"`
	Reason string            `json:"reason,omitempty"`

	Fault *FaultOutcome `json:"fault,omitempty"`

	ErrorType string `json:"error_type,omitempty"`
	Error     string `json:"error,omitempty"`
	ExitCode  int    `json:"exit_code"`

	Sent        int64 `json:"sent"`
	Delivered   int64 `json:"delivered"`
	Lost        int64 `json:"lost"`
	Duplicated  int64 `json:"duplicated"`
	Corrupted   int64 `json:"corrupted"`
	OutOfOrder  int64 `json:"out_of_order"`
	Undelivered int64 `json:"undelivered"`
	// ReportedLost is the item count a PriorSpillsLost error gave.
	ReportedLost int `json:"reported_lost,omitempty"`
	Panics       int `json:"panics"`

	SetupMS    float64 `json:"setup_ms"`
	TeardownMS float64 `json:"teardown_ms"`
	WallMS     float64 `json:"wall_ms"` // measured time per run
	// Runs is how many runs of the engine the repetition measured; CPUMS
	// the process CPU time across them; StealPct the share of the host's
	// CPU the hypervisor stole meanwhile.
	Runs     int     `json:"runs"`
	CPUMS    float64 `json:"cpu_ms"`
	StealPct float64 `json:"steal_pct"`
	// GCCycles is how many garbage collections ran during the runs: the
	// heap is collected before a repetition that could meet one.
	GCCycles uint64 `json:"gc_cycles"`

	Spill *spill.Stats `json:"spill,omitempty"`
	// External is an external target's run (see external_run.go).
	External *ExternalOutcome `json:"external,omitempty"`
}

// FaultOutcome is what the injector observed.
type FaultOutcome struct {
	Injector   string     `json:"injector"`
	Mode       string     `json:"mode"`
	Quiet      bool       `json:"quiet,omitempty"`
	Family     string     `json:"family"`
	Requires   []string   `json:"requires,omitempty"`
	TargetSite spill.Site `json:"target_site,omitempty"`
	injectors.Summary
	Observations []injectors.Observation `json:"observations,omitempty"` // the first few
}

// errorType names the typed error at the top of err's chain that matters.
func errorType(err error) string {
	if k := spill.ErrorKind(err); k != "" || err == nil {
		return k
	}
	if errors.Is(err, engine.ErrWorkerPanic) {
		return "WorkerPanic"
	}
	return fmt.Sprintf("%T", err)
}

// fill copies a run's outcome into o and decides its status.
func (o *Outcome) fill(out engine.Outcome, fault *FaultOutcome) {
	r := out.Report
	o.Sent, o.Delivered, o.Lost, o.Duplicated = r.Sent, r.Delivered, r.Lost, r.Duplicated
	o.Corrupted, o.OutOfOrder, o.Undelivered = r.Corrupted, r.OutOfOrder, r.Undelivered
	o.Panics, o.ExitCode = out.Panics, out.ExitCode
	o.WallMS = float64(out.Wall.Microseconds()) / 1000
	if out.Err != nil {
		o.Error, o.ErrorType = out.Err.Error(), errorType(out.Err)
		var lost *spill.PriorSpillsLostError
		if errors.As(out.Err, &lost) {
			o.ReportedLost = lost.Items
		}
	}
	if out.Spill != (spill.Stats{}) {
		s := out.Spill
		o.Spill = &s
	}
	o.Fault = fault
	switch {
	case !r.Clean() || out.Panics > 0:
		o.Status = StatusDataLost
	case fault != nil && fault.Quiet && fault.Fired:
		o.Status, o.Reason = StatusNotFired, "a quiet fault fired: the run measured more than the mechanism's own cost"
	case fault != nil && fault.Quiet:
		o.Status = StatusOK
	case fault != nil && !fault.Fired:
		o.Status, o.Reason = StatusNotFired, "the fault never happened: the run is no evidence about it"
	case fault != nil && fault.TargetSite != "" && fault.Site != fault.TargetSite:
		o.Status, o.Reason = StatusOffTarget, fmt.Sprintf("aimed at %s, struck at %s", fault.TargetSite, fault.Site)
	case out.Err != nil:
		o.Status = StatusError
	default:
		o.Status = StatusOK
	}
}

// resultDir writes a result directory as runs finish, so an interrupted
// sweep still leaves parseable files. One sweep writes it, holding its
// lock. Whole files (spec.yaml, env.json, profiles) are written
// atomically; results.txt and outcomes.jsonl are append-only records,
// each appended in one write and cut back to the last whole record if
// that write fails, so a reader can always use what is there.
type resultDir struct {
	dir  string
	lock *dirLock

	mu         sync.Mutex
	fileConfig []benchfmt.Config
	results    *appendFile
	rbuf       bytes.Buffer
	bw         *benchfmt.Writer
	outcomes   *appendFile
}

// createResultDir takes dir (which must not exist, or be empty) for this
// sweep, makes its profiles directory, writes the spec and opens the
// streams. If it fails, it leaves dir as it found it.
func createResultDir(dir string, spec *Spec) (_ *resultDir, err error) {
	lock, err := lockResultDir(dir)
	if err != nil {
		return nil, err
	}
	d := &resultDir{dir: dir, lock: lock}
	defer func() {
		if err != nil {
			d.abort()
		}
	}()
	if err := os.Mkdir(filepath.Join(dir, "profiles"), 0o755); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "spec.yaml"), spec.Source, 0o644); err != nil {
		return nil, err
	}
	if d.results, err = createAppendFile(filepath.Join(dir, "results.txt")); err != nil {
		return nil, err
	}
	if d.outcomes, err = createAppendFile(filepath.Join(dir, "outcomes.jsonl")); err != nil {
		return nil, err
	}
	d.bw = benchfmt.NewWriter(&d.rbuf)
	return d, nil
}

// abort undoes a start that failed before env.json was written: nothing a
// reader could use is lost, and the next try finds the directory as the
// user gave it.
func (d *resultDir) abort() {
	d.results.close()
	d.outcomes.close()
	for _, name := range []string{"results.txt", "outcomes.jsonl", "spec.yaml", "env.json", "profiles"} {
		os.RemoveAll(filepath.Join(d.dir, name))
	}
	if ents, err := os.ReadDir(d.dir); err == nil {
		for _, e := range ents {
			if atomicfile.IsTemp(e.Name()) {
				os.Remove(filepath.Join(d.dir, e.Name()))
			}
		}
	}
	os.Remove(filepath.Join(d.dir, LockFile))
	d.lock.release()
	if d.lock.created {
		os.Remove(d.dir)
	}
}

// header writes results.txt's file configuration and unit metadata.
func (d *resultDir) header(env Env) error {
	cfg := []benchfmt.Config{
		{Key: "goos", Value: []byte(env.GOOS), File: true},
		{Key: "goarch", Value: []byte(env.GOARCH), File: true},
		{Key: "cpu", Value: []byte(env.CPU), File: true},
		{Key: "kernel", Value: []byte(env.Kernel), File: true},
		{Key: "spillfs", Value: []byte(env.SpillFS), File: true},
		{Key: "go", Value: []byte(env.GoVersion), File: true},
		{Key: "module", Value: []byte(env.Module), File: true},
		{Key: "version", Value: []byte(env.ModuleVersion), File: true},
		{Key: "commit", Value: []byte(env.Commit), File: true},
		{Key: "spec", Value: []byte(env.Spec), File: true},
		{Key: "shard", Value: []byte(env.Shard), File: true},
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// A result carries the file configuration; the writer prints it once
	// before the first result. Unit metadata comes first.
	for _, u := range []struct{ unit, better string }{
		{"input-B/s", "higher"}, {"peak-spill-B", "lower"}, // external targets'
		{"items/s", "higher"}, {"spill-bytes/op", "lower"}, {"reloads/op", "lower"}, {"activations/op", "lower"},
		{"reload-bytes/op", "lower"}, {"spill-ns/op", "lower"}, {"reload-ns/op", "lower"}, {"cpu-ns/op", "lower"},
		{"peak-heap-B", "lower"}, {"peak-rss-B", "lower"}, {"peak-buffered-B", "lower"},
		{"peak-items", "lower"}, {"stall-ns/op", "lower"}, {"forced-inserts/op", "lower"}, {"lost-items/op", "lower"},
		{"bytes/s", "higher"},
	} {
		um := &benchfmt.UnitMetadata{UnitMetadataKey: benchfmt.UnitMetadataKey{Unit: u.unit, Key: "better"}, OrigUnit: u.unit, Value: u.better}
		if err := d.bw.Write(um); err != nil {
			return err
		}
	}
	d.fileConfig = cfg
	return d.flushResults()
}

// flushResults appends what the benchfmt writer buffered as one record.
func (d *resultDir) flushResults() error {
	defer d.rbuf.Reset()
	return d.results.append(d.rbuf.Bytes())
}

// result writes one benchmark line.
func (d *resultDir) result(name string, values []benchfmt.Value) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := &benchfmt.Result{Config: d.fileConfig, Name: benchfmt.Name(name), Iters: 1, Values: values} // the writer adds "Benchmark"
	if err := d.bw.Write(r); err != nil {
		return err
	}
	return d.flushResults()
}

// outcome appends one line to outcomes.jsonl.
func (d *resultDir) outcome(o Outcome) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.outcomes.append(append(b, '\n'))
}

// writeEnv (re)writes env.json atomically.
func (d *resultDir) writeEnv(env Env) error {
	b, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(d.dir, "env.json"), append(b, '\n'), 0o644)
}

// close syncs and closes the streams and lets the directory's lock go,
// keeping the first error.
func (d *resultDir) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return errors.Join(d.results.close(), d.outcomes.close(), d.lock.release())
}

// appendFile is a file of records appended whole: a record that cannot be
// written whole is cut off again, and the file takes no more, so the file
// always ends at the end of a record. Should even the cut fail, the error
// says where the last whole record ends.
type appendFile struct {
	f    *os.File
	path string
	size int64 // the end of the last whole record
	err  error // the failure that closed the file to new records
}

func createAppendFile(path string) (*appendFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &appendFile{f: f, path: path}, nil
}

// append writes rec at the end, whole or not at all.
func (a *appendFile) append(rec []byte) error {
	if a.err != nil {
		return a.err
	}
	if len(rec) == 0 {
		return nil
	}
	n, err := a.f.WriteAt(rec, a.size)
	if err == nil {
		a.size += int64(n)
		return nil
	}
	if terr := a.f.Truncate(a.size); terr != nil && n > 0 {
		a.err = fmt.Errorf("%s is torn: a record was cut after %d of its %d bytes (%v), and cutting it off failed (%v); readers use it up to byte %d, its last whole record", a.path, n, len(rec), err, terr, a.size)
	} else {
		a.err = fmt.Errorf("%s: appending a record: %w; the file ends at its last whole record (%d bytes)", a.path, err, a.size)
	}
	return a.err
}

// close syncs and closes the file.
func (a *appendFile) close() error {
	if a == nil || a.f == nil {
		return nil
	}
	err := errors.Join(a.f.Sync(), a.f.Close())
	a.f = nil
	if err != nil {
		return fmt.Errorf("%s: %w", a.path, err)
	}
	return nil
}

// profilePath is where a cell's profile of kind (cpu, heap) goes.
func (d *resultDir) profilePath(c Cell, rep int, perRep bool, kind string) string {
	name := strings.ReplaceAll(c.Name(), "/", "_")
	if perRep {
		name += fmt.Sprintf(".rep%d", rep)
	}
	return filepath.Join(d.dir, "profiles", name+"."+kind+".pb.gz")
}
