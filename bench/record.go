package bench

import (
	"bufio"
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

// Passed reports whether a status counts as a pass. A fault cell whose
// fault did not fire, or fired elsewhere, is not one, whatever the engine
// did.
func (s Status) Passed() bool { return s == StatusOK || s == StatusError }

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
// sweep still leaves parseable files.
type resultDir struct {
	dir string

	mu         sync.Mutex
	fileConfig []benchfmt.Config
	results    *os.File
	rbuf       *bufio.Writer
	bw         *benchfmt.Writer
	outcomes   *os.File
	obuf       *bufio.Writer
}

// createResultDir makes dir (which must not exist, or be empty) with its
// profiles directory and the spec, and opens the streams.
func createResultDir(dir string, spec *Spec) (*resultDir, error) {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("result directory %s is not empty; give a new --out directory", dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, "profiles"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "spec.yaml"), spec.Source, 0o644); err != nil {
		return nil, err
	}
	d := &resultDir{dir: dir}
	var err error
	if d.results, err = os.Create(filepath.Join(dir, "results.txt")); err != nil {
		return nil, err
	}
	if d.outcomes, err = os.Create(filepath.Join(dir, "outcomes.jsonl")); err != nil {
		d.results.Close()
		return nil, err
	}
	d.rbuf, d.obuf = bufio.NewWriter(d.results), bufio.NewWriter(d.outcomes)
	d.bw = benchfmt.NewWriter(d.rbuf)
	return d, nil
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
	return d.rbuf.Flush()
}

// result writes one benchmark line.
func (d *resultDir) result(name string, values []benchfmt.Value) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := &benchfmt.Result{Config: d.fileConfig, Name: benchfmt.Name(name), Iters: 1, Values: values} // the writer adds "Benchmark"
	if err := d.bw.Write(r); err != nil {
		return err
	}
	return d.rbuf.Flush()
}

// outcome appends one line to outcomes.jsonl.
func (d *resultDir) outcome(o Outcome) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.obuf.Write(append(b, '\n'))
	return d.obuf.Flush()
}

// writeEnv (re)writes env.json atomically.
func (d *resultDir) writeEnv(env Env) error {
	b, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(d.dir, ".env.json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(d.dir, "env.json"))
}

// close flushes and closes the streams, keeping the first error.
func (d *resultDir) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return errors.Join(d.rbuf.Flush(), d.results.Close(), d.obuf.Flush(), d.outcomes.Close())
}

// profilePath is where a cell's profile of kind (cpu, heap) goes.
func (d *resultDir) profilePath(c Cell, rep int, perRep bool, kind string) string {
	name := strings.ReplaceAll(c.Name(), "/", "_")
	if perRep {
		name += fmt.Sprintf(".rep%d", rep)
	}
	return filepath.Join(d.dir, "profiles", name+"."+kind+".pb.gz")
}
