// Package reports turns result directories into statistics, plots and
// design documents. It reads only files (results.txt, outcomes.jsonl,
// env.json, profiles/*.pb.gz, the contract in docs/design/architecture.md)
// and imports nothing of the engine or the bench, so it works on result
// directories from any machine, commit or shard.
//
// Statistics are golang.org/x/perf's: benchfmt reads, benchproc groups by
// projections such as /gran, and benchmath summarizes (median and
// confidence interval) and compares (Mann-Whitney U), so a "~" here is a
// "~" in benchstat. Beyond benchstat, Holm-Bonferroni control over a whole
// grid and a warning when a sample is too small to ever be significant.
//
// Where to find things:
//
//   - load.go reads inputs; stats.go, power.go and paired.go are the
//     statistics; plots.go draws.
//   - The report (Generate) has a file per section: report.go (the
//     outline and Setup), results.go, efficiency.go, wheretime.go,
//     granularity.go, faults.go, findings.go and limitations.go;
//     document.go renders its blocks to Markdown and HTML.
//   - The other documents: tuning.go, injection.go, survival.go, with
//     their figures in docfigures.go.
//   - The gate and the trend: compare.go (compare and ab), history.go
//     and changepoint.go (history show).
package reports

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spillbench/spillbench/internal/resultlock"
	"golang.org/x/perf/benchfmt"
)

// Dir is one input as read: a result directory, or a file of Go
// benchmark results (Plain) such as `go test -bench` writes.
type Dir struct {
	Path string
	// Plain: a Go benchmark-format file, not a result directory. It has
	// no env, outcomes or profiles, and its benchmarks can be anything.
	Plain    bool
	Env      Env
	Results  []*benchfmt.Result
	Outcomes []Outcome
	Profiles []string // paths of profiles/*.pb.gz, sorted
	// Units is the unit metadata (better=, assume=) the results carry.
	Units benchfmt.UnitMetadataMap
	// Warnings say what of the directory was left unread: a last line
	// cut short (a full disk, a killed writer), an empty or torn profile;
	// or that its sweep is still writing it.
	Warnings []string
	// Writer is the PID of the sweep still writing the directory (it
	// holds the directory's lock; -1 if it has not written its PID yet),
	// 0 if none is. Its report is of what the sweep had written when it
	// was read.
	Writer int
}

// Env is env.json: the fields reports use.
type Env struct {
	Host            string    `json:"host"`
	Kernel          string    `json:"kernel"`
	CPU             string    `json:"cpu"`
	NumCPU          int       `json:"num_cpu"`
	GoVersion       string    `json:"go_version"`
	Module          string    `json:"module"`
	ModuleVersion   string    `json:"module_version"`
	Commit          string    `json:"commit"`
	SpillFS         string    `json:"spill_fs"`
	Spec            string    `json:"spec"`
	Shard           string    `json:"shard"`
	Start           time.Time `json:"start"`
	End             time.Time `json:"end"`
	Complete        bool      `json:"complete"`
	Interrupted     bool      `json:"interrupted"`
	Cells           int       `json:"cells"`
	Recorded        int       `json:"recorded"`
	Skipped         int       `json:"skipped"`
	Failed          int       `json:"failed"`
	TotalSeconds    float64   `json:"total_seconds"`
	MeasuredSeconds float64   `json:"measured_seconds"`
	Overhead        float64   `json:"harness_overhead"`
	GOGC            int       `json:"gogc"`
	Benchtime       string    `json:"benchtime"`
	CI              float64   `json:"ci_target"`
	MinCount        int       `json:"min_count"`
	MaxCount        int       `json:"max_count"`
	MaxSteal        float64   `json:"max_steal"`
	ProfileHz       int       `json:"profile_hz"`
	Rounds          int       `json:"rounds"`
	StealRepeats    int       `json:"steal_repeats"`
	Planted         string    `json:"planted"`
	Lockstep        string    `json:"lockstep"`
	// Plain marks a history entry recorded from a Go benchmark file
	// rather than a result directory: its benchmarks can be anything.
	Plain bool `json:"plain,omitempty"`
}

// Outcome is a line of outcomes.jsonl: the fields reports use.
type Outcome struct {
	Cell         string            `json:"cell"`
	Kind         string            `json:"kind"`
	Keys         map[string]string `json:"keys"`
	Rep          int               `json:"rep"`
	Status       string            `json:"status"`
	Reason       string            `json:"reason"`
	Fault        *FaultOutcome     `json:"fault"`
	ErrorType    string            `json:"error_type"`
	ExitCode     int               `json:"exit_code"`
	Sent         int64             `json:"sent"`
	Delivered    int64             `json:"delivered"`
	Lost         int64             `json:"lost"`
	Duplicated   int64             `json:"duplicated"`
	Corrupted    int64             `json:"corrupted"`
	Undelivered  int64             `json:"undelivered"`
	ReportedLost int               `json:"reported_lost"`
	Panics       int               `json:"panics"`
	SetupMS      float64           `json:"setup_ms"`
	TeardownMS   float64           `json:"teardown_ms"`
	WallMS       float64           `json:"wall_ms"`
	Runs         int               `json:"runs"`
	CPUMS        float64           `json:"cpu_ms"`
	StealPct     float64           `json:"steal_pct"`
	GCCycles     int               `json:"gc_cycles"`
	// External is an external target's run (external.go); nil for the
	// engine's.
	External *ExternalOutcome `json:"external"`
}

// Failed reports whether a repetition failed: it lost data, timed out,
// was interrupted, could not set its fault up, or stopped on an error
// that no injected fault caused (a full TMPDIR under a fault-free cell).
// A skipped cell, or a fault that did not fire, is no failure of the
// run, but no evidence either; Limitations lists those apart.
func (o Outcome) Failed() bool {
	switch o.Status {
	case "data-lost", "timeout", "interrupted", "setup-failed":
		return true
	case "crash":
		// An external target's crash under a fault is what the fault
		// did to it; without one it is a failure.
		return o.Fault == nil || o.Fault.Quiet
	case "error":
		return o.Keys["fault"] == "none" || o.Fault == nil || o.Fault.Quiet
	}
	return false
}

// FaultOutcome is what the injector of a fault cell observed.
type FaultOutcome struct {
	Injector   string   `json:"injector"`
	Mode       string   `json:"mode"`
	Quiet      bool     `json:"quiet"`
	Family     string   `json:"family"`
	Requires   []string `json:"requires"`
	TargetSite string   `json:"target_site"`
	Fired      bool     `json:"fired"`
	Errno      string   `json:"errno"`
	Site       string   `json:"site"`
	Op         string   `json:"op"`
	Offset     int64    `json:"offset"`
	Call       int      `json:"call"`
}

// Set is one or more result directories read together: the shards of one
// sweep, or several sweeps.
type Set struct {
	Dirs []*Dir
}

// Results returns every result of every directory.
func (s *Set) Results() []*benchfmt.Result {
	var rs []*benchfmt.Result
	for _, d := range s.Dirs {
		rs = append(rs, d.Results...)
	}
	return rs
}

// Plain reports whether any input of the set is a Go benchmark file
// rather than a result directory.
func (s *Set) Plain() bool {
	return slices.ContainsFunc(s.Dirs, func(d *Dir) bool { return d.Plain })
}

// Warnings returns every directory's warnings.
func (s *Set) Warnings() []string {
	var ws []string
	for _, d := range s.Dirs {
		ws = append(ws, d.Warnings...)
	}
	return ws
}

// Outcomes returns every outcome of every directory.
func (s *Set) Outcomes() []Outcome {
	var os []Outcome
	for _, d := range s.Dirs {
		os = append(os, d.Outcomes...)
	}
	return os
}

// ErrNotResultDir says a path is not a result directory.
var ErrNotResultDir = errors.New("not a spillbench result directory")

// Load reads result directories, for a report. A directory that is not
// one itself but holds result directories (a side of spillbench ab: one
// per pair of processes) stands for them, in name order. Any problem is
// an error naming the file (and line); nothing is half read. So is a
// directory given twice, or a cell that two of the arguments both hold:
// shards of one sweep are disjoint, and merging a shard with itself would
// double its repetitions.
func Load(dirs ...string) (*Set, error) {
	return load(nil, false, dirs)
}

// LoadBenchmarks reads what compare and history take: result
// directories as Load does, files in Go benchmark format (the output of
// go test -bench, any benchmarks), and "-" for stdin. Plain files may
// repeat a benchmark, as the files of go test -count runs do.
func LoadBenchmarks(stdin io.Reader, paths ...string) (*Set, error) {
	return load(stdin, true, paths)
}

func load(stdin io.Reader, files bool, paths []string) (*Set, error) {
	if len(paths) == 0 {
		return nil, errors.New("no result directory given")
	}
	s := &Set{}
	seen := map[string]string{} // a resolved path -> the argument that named it
	arg := map[*Dir]int{}       // which argument a directory came from
	for i, path := range paths {
		for _, p := range expand(path) {
			key := p
			if abs, err := filepath.Abs(p); err == nil {
				key = abs
				if real, err := filepath.EvalSymlinks(abs); err == nil {
					key = real
				}
			}
			if prev, ok := seen[key]; ok {
				return nil, fmt.Errorf("%s is given twice (as %s and %s); give each input once", p, prev, path)
			}
			seen[key] = path
			d, err := loadInput(stdin, files, p)
			if err != nil {
				return nil, err
			}
			s.Dirs = append(s.Dirs, d)
			arg[d] = i
		}
	}
	// The same cell in result directories of two arguments.
	where := map[string]*Dir{}
	for _, d := range s.Dirs {
		if d.Plain {
			continue
		}
		for _, r := range d.Results {
			name := string(r.Name.Full())
			if prev, ok := where[name]; ok && arg[prev] != arg[d] {
				return nil, fmt.Errorf("cell %s is in both %s and %s: a shard given twice, or runs that overlap; give each shard once", name, prev.Path, d.Path)
			}
			where[name] = d
		}
	}
	return s, nil
}

// loadInput reads one path: a result directory, or where files are
// allowed, a Go benchmark file or "-" for stdin.
func loadInput(stdin io.Reader, files bool, path string) (*Dir, error) {
	if !files {
		return loadDir(path)
	}
	if path == "-" {
		if stdin == nil {
			return nil, errors.New("- (standard input) cannot be read here")
		}
		d := &Dir{Path: "-", Plain: true}
		return d, d.readResults(stdin, "stdin")
	}
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		d := &Dir{Path: path, Plain: true}
		if err := d.loadResults(path); err != nil {
			return nil, err
		}
		if len(d.Results) == 0 {
			return nil, fmt.Errorf("%s holds no benchmark results: give a result directory or a file in Go benchmark format (go test -bench output)", path)
		}
		return d, nil
	}
	return loadDir(path)
}

// expand returns the result directories inside path if path has no
// env.json of its own but its subdirectories do; otherwise path.
func expand(path string) []string {
	if _, err := os.Stat(filepath.Join(path, "env.json")); !errors.Is(err, os.ErrNotExist) {
		return []string{path}
	}
	inner, _ := filepath.Glob(filepath.Join(path, "*", "env.json"))
	if len(inner) == 0 {
		return []string{path}
	}
	var out []string
	for _, e := range inner {
		out = append(out, filepath.Dir(e))
	}
	slices.Sort(out)
	return out
}

func loadDir(path string) (*Dir, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: %w (it is a file)", path, ErrNotResultDir)
	}
	d := &Dir{Path: path}
	envPath := filepath.Join(path, "env.json")
	b, err := os.ReadFile(envPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w: it has no env.json", path, ErrNotResultDir)
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &d.Env); err != nil {
		return nil, fmt.Errorf("%s: %v", envPath, err)
	}
	d.Plain = d.Env.Plain
	if pid, live := resultlock.Holder(path); live {
		d.Writer = pid
		if pid == 0 {
			d.Writer = -1 // held, its PID not written yet
		}
		d.Warnings = append(d.Warnings, fmt.Sprintf("%s is still being written by a sweep (%s): read as it stands now, with fewer repetitions than it will have", path, writerText(pid)))
	}
	if err := d.loadResults(filepath.Join(path, "results.txt")); err != nil {
		return nil, err
	}
	if err := d.loadOutcomes(filepath.Join(path, "outcomes.jsonl")); err != nil {
		return nil, err
	}
	d.loadProfiles(filepath.Join(path, "profiles"))
	return d, nil
}

// writerText names the process holding a directory's lock.
func writerText(pid int) string {
	if pid > 0 {
		return fmt.Sprintf("PID %d", pid)
	}
	return "its PID not yet written"
}

// loadProfiles lists the profiles that parse; an empty or torn one (its
// writer killed before an atomic rename existed, a foreign copy cut
// short) is left out with a warning rather than failing the report.
func (d *Dir) loadProfiles(dir string) {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.pb.gz"))
	slices.Sort(paths)
	for _, p := range paths {
		if _, err := ReadProfile(p); err != nil {
			d.Warnings = append(d.Warnings, fmt.Sprintf("%v; left out", err))
			continue
		}
		d.Profiles = append(d.Profiles, p)
	}
}

// readWholeLines reads a file of line records and cuts it at its last
// whole line: what follows is a record its writer could not finish (a
// full disk, SIGKILL), dropped with a warning naming the file.
func (d *Dir) readWholeLines(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if n := len(b); n > 0 && b[n-1] != '\n' {
		cut := bytes.LastIndexByte(b, '\n') + 1
		d.Warnings = append(d.Warnings, fmt.Sprintf("%s: its last line is torn: %d bytes after the last whole line (byte %d) left out", path, n-cut, cut))
		b = b[:cut]
	}
	return b, nil
}

// loadResults reads results.txt, rejecting syntax errors and a unit whose
// values disagree on its base unit within one benchmark.
func (d *Dir) loadResults(path string) error {
	b, err := d.readWholeLines(path)
	if err != nil {
		return err
	}
	return d.readResults(bytes.NewReader(b), path)
}

// readResults reads Go benchmark results from r, named path in errors.
// Only a plain file may hold benchmarks other than spillbench's cells.
func (d *Dir) readResults(f io.Reader, path string) error {
	r := benchfmt.NewReader(f, path)
	units := map[string]string{} // benchmark/unit -> the unit it was first written as
	line := 0
	for r.Scan() {
		switch rec := r.Result().(type) {
		case *benchfmt.SyntaxError:
			return rec
		case *benchfmt.Result:
			line++
			res := rec.Clone()
			name := string(res.Name.Full())
			for _, v := range res.Values {
				if first, ok := units[name+" "+v.Unit]; ok && first != v.OrigUnit {
					return fmt.Errorf("%s: %s: unit %s written both as %s and %s", path, name, v.Unit, first, v.OrigUnit)
				}
				units[name+" "+v.Unit] = v.OrigUnit
			}
			if !d.Plain && !slices.ContainsFunc([]string{"Engine/", "External/", "Ring/", "RawFS/"}, func(k string) bool { return strings.HasPrefix(name, k) }) {
				return fmt.Errorf("%s: result %d: benchmark %q is not a spillbench cell (Engine/, External/, Ring/ or RawFS/)", path, line, name)
			}
			d.Results = append(d.Results, res)
		}
	}
	d.Units = r.Units()
	return r.Err()
}

func (d *Dir) loadOutcomes(path string) error {
	b, err := d.readWholeLines(path)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 16<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var o Outcome
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			return fmt.Errorf("%s:%d: %v", path, n, err)
		}
		if o.Cell == "" || o.Status == "" {
			return fmt.Errorf("%s:%d: an outcome needs a cell and a status", path, n)
		}
		d.Outcomes = append(d.Outcomes, o)
	}
	return sc.Err()
}
