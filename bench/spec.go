package bench

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/spillbench/spillbench/engine"
	"github.com/spillbench/spillbench/injectors"
	"github.com/spillbench/spillbench/spill"
)

// Spec is a declarative sweep: the values of every axis, whose cross
// product is the set of cells, and how to run them.
//
//	name: quick
//	count: 6                  # recorded repetitions of every cell, at least
//	max-count: 12             # and at most, while its interval is wider than ci
//	ci: 1%                    # target half width of a cell's 95% interval of time per run
//	benchtime: 150ms          # measured time per repetition: runs are repeated to fill it
//	warmup: 1                 # unrecorded repetitions of every cell first
//	seed: 1
//	timeout: 30s              # one run's limit; past it the run is cancelled
//	profiles: cell            # cell (every recorded rep merged), rep, or none
//	gogc: 100                 # the garbage collector's GOGC during the sweep
//	max-steal: 5%             # repeat a repetition whose CPU steal was above this
//	probe: false              # check the spill directory takes a file before each run
//	threshold: [4KiB, 64KiB]  # or a range: 4KiB..64MiB x4
//	granularity: [batch, item]
//	compression: [none, zstd:3]
//	reclaim: [keep]
//	backend: [dir]            # dir, spooled, memory (in-memory-only)
//	workers: [2]
//	ring: [1024]
//	schedule: [seeded]        # seeded (the same arrival order every run) or free
//	workload:
//	  - {name: hol, items: 2000, scale: 0.25}
//	fault:
//	  - {injector: none}
//	  - {injector: tmpfs, mode: enospc, after: 256KiB}
type Spec struct {
	Name     string
	Count    int // recorded repetitions of every cell, at least
	MaxCount int // and at most; repetitions past Count run while the interval is wider than CI
	CI       float64
	Warmup   int
	Seed     uint64
	Timeout  time.Duration
	Profiles string
	// Benchtime is the measured time a repetition of a timed cell aims
	// for: its runs are repeated back to back to fill it, the count fixed
	// from the warm-up. Zero is one run per repetition.
	Benchtime time.Duration
	// GOGC is the garbage collector's setting during the sweep.
	GOGC int
	// MaxSteal is the share of CPU time the hypervisor may steal during a
	// repetition before it is discarded and run again.
	MaxSteal float64
	// Probe makes every engine run check that its spill directory takes
	// a file before any work starts (engine.Config.Probe, the
	// reference's check at transfer start): a fault that breaks the
	// directory then fails the run at the probe, before anything is sent,
	// instead of at the first spill. Off by default, so that fault cells
	// reach the spill sites they name.
	Probe bool

	Thresholds  []int64
	Granularity []spill.Granularity
	Compression []spill.Compression
	Reclaim     []spill.Reclaim
	Backends    []Backend
	Workers     []int
	Rings       []int
	Schedules   []engine.Schedule
	Workloads   []engine.WorkloadSpec
	Faults      []FaultSpec
	// Target, if set, is the external command the spec sweeps instead
	// of the engine, over Inputs (see external.go).
	Target     *Target
	Inputs     []Input
	Source     []byte // the YAML it was parsed from
	SourceName string

	// SpillDir is where cells without an injector make their spill
	// directories, and RawFS its files; empty is os.TempDir. Env lists
	// the environment overrides ApplyEnv was given.
	SpillDir string
	Env      []EnvOverride
	given    map[string]bool // the axes and settings the spec wrote
}

// Backend is where a cell's buffer spills.
type Backend string

const (
	BackendDir     Backend = "dir"     // a spill directory (the injector's, or one of the run's)
	BackendSpooled Backend = "spooled" // in memory up to 1 MiB, then a temp file
	BackendMemory  Backend = "memory"  // in-memory-only: never touches disk
)

// FaultSpec is one value of the fault axis.
type FaultSpec struct {
	Injector string // "none" or an injector name
	Fault    injectors.Fault
	// Workloads and Thresholds, if set, limit the fault to cells of these
	// workloads and thresholds: a fault needs a cell that spills enough
	// to meet it.
	Workloads  []string
	Thresholds []int64
	// Quiet arms the mechanism with a fault meant never to fire, to measure
	// what the mechanism costs the engine on its own; such a cell passes
	// only if the fault did not fire.
	Quiet bool
	Line  int // where it was written, for errors found later
}

// String is the fault's value in cell names: none, or injector:mode.
func (f FaultSpec) String() string {
	switch {
	case f.Injector == "none":
		return "none"
	case f.Quiet:
		return f.Injector + ":quiet"
	}
	return f.Injector + ":" + string(f.Fault.Mode)
}

// Builtin specs, embedded.
//
//go:embed specs/*.yaml
var builtin embed.FS

// Builtins lists the names of the embedded specs.
func Builtins() []string { return []string{"quick", "ci", "default", "tuning", "full", "sort"} }

// LoadSpec reads a built-in spec by name, or a YAML file by path.
func LoadSpec(nameOrPath string) (*Spec, error) {
	if slices.Contains(Builtins(), nameOrPath) {
		b, err := builtin.ReadFile("specs/" + nameOrPath + ".yaml")
		if err != nil {
			return nil, err
		}
		return ParseSpec(nameOrPath+".yaml", b)
	}
	b, err := os.ReadFile(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("spec %s: %w; give a file or one of %s", nameOrPath, errors.Unwrap(err), strings.Join(Builtins(), ", "))
	}
	return ParseSpec(filepath.Base(nameOrPath), b)
}

// SpecError is a spec problem at a line, with what to do about it.
type SpecError struct {
	File string
	Line int
	Msg  string
}

func (e *SpecError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// axes and their parsers. Order is the order of cell-name keys.
var axisNames = []string{"workload", "threshold", "granularity", "compression", "reclaim", "backend", "workers", "ring", "schedule", "fault"}
var settingNames = []string{"name", "count", "max-count", "ci", "benchtime", "warmup", "seed", "timeout", "profiles", "gogc", "max-steal", "probe", "target", "input"}

// ParseSpec parses a spec and checks it, reporting the first problem with
// its file and line. Nothing runs until a spec parses, and a spec whose
// sweep would not fit in the machine's memory (MachineMemory) does not.
func ParseSpec(file string, src []byte) (*Spec, error) {
	return parseSpec(file, src, MachineMemory())
}

// parseSpec is ParseSpec for a machine of memory bytes (0: unknown, no
// check).
func parseSpec(file string, src []byte, memory int64) (*Spec, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		var te *yaml.TypeError
		line := 1
		if errors.As(err, &te) {
			return nil, &SpecError{file, line, strings.Join(te.Errors, "; ")}
		}
		msg := err.Error()
		if _, rest, ok := strings.Cut(msg, "line "); ok {
			if n, err := strconv.Atoi(strings.SplitN(rest, ":", 2)[0]); err == nil {
				line = n
			}
		}
		return nil, &SpecError{file, line, "not valid YAML: " + msg}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, &SpecError{file, 1, "a spec is a YAML mapping of axes and settings, such as threshold: [64KiB]"}
	}
	p := &specParser{file: file, s: &Spec{
		Name: strings.TrimSuffix(file, filepath.Ext(file)), Count: 1, Seed: 1, Timeout: 2 * time.Minute, Profiles: "cell",
		GOGC: 100, MaxSteal: 0.05,
		Source: bytes.Clone(src), SourceName: file,
	}}
	root := doc.Content[0]
	p.root = root
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if seen[k.Value] {
			return nil, p.errorf(k, "%s is given twice", k.Value)
		}
		seen[k.Value] = true
		if err := p.field(k, v); err != nil {
			return nil, err
		}
	}
	p.s.given = seen
	if err := p.defaults(root); err != nil {
		return nil, err
	}
	if err := p.checkCells(); err != nil {
		return nil, err
	}
	if err := p.checkMemory(memory); err != nil {
		return nil, err
	}
	return p.s, nil
}

type specParser struct {
	file string
	s    *Spec
	root *yaml.Node
	// The nodes each ring and workload value was written at, in the
	// order of s.Rings and s.Workloads: the memory check names them.
	ringLines, workloadLines []*yaml.Node
}

func (p *specParser) errorf(n *yaml.Node, format string, args ...any) error {
	return &SpecError{p.file, n.Line, fmt.Sprintf(format, args...)}
}

// list returns the items of a sequence node, or the node itself as a list
// of one for a scalar; an empty list is an error.
func (p *specParser) list(k, v *yaml.Node) ([]*yaml.Node, error) {
	switch v.Kind {
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			return nil, p.errorf(k, "%s is an empty list; give at least one value or leave the axis out for its default", k.Value)
		}
		return v.Content, nil
	case yaml.ScalarNode, yaml.MappingNode:
		return []*yaml.Node{v}, nil
	}
	return nil, p.errorf(v, "%s: expected a value or a list of values", k.Value)
}

// field reads one top-level key of a spec: a setting or an axis.
func (p *specParser) field(k, v *yaml.Node) error {
	switch k.Value {
	case "count", "max-count", "warmup", "gogc", "seed":
		return p.wholeSetting(k, v)
	case "name", "ci", "max-steal", "benchtime", "timeout", "profiles":
		return p.setting(k, v)
	case "probe":
		b, err := strconv.ParseBool(v.Value)
		if err != nil || v.Kind != yaml.ScalarNode {
			return p.errorf(v, "probe %q: give true or false", v.Value)
		}
		p.s.Probe = b
		return nil
	case "threshold":
		return p.thresholds(k, v)
	case "granularity", "compression", "reclaim", "backend", "workers", "ring", "schedule":
		items, err := p.list(k, v)
		if err != nil {
			return err
		}
		for _, it := range items {
			if err := p.scalarAxis(k.Value, it); err != nil {
				return err
			}
		}
		return nil
	case "workload":
		return p.workloads(k, v)
	case "fault":
		return p.faults(k, v)
	case "target":
		return p.target(k, v)
	case "input":
		return p.inputs(k, v)
	}
	return p.errorf(k, "unknown axis or setting %q; the axes are %s and the settings %s",
		k.Value, strings.Join(axisNames, ", "), strings.Join(settingNames, ", "))
}

// wholeSetting reads a setting that is a whole number.
func (p *specParser) wholeSetting(k, v *yaml.Node) error {
	s := p.s
	switch k.Value {
	case "count", "max-count", "warmup":
		n, err := strconv.Atoi(v.Value)
		if err != nil || n < 0 {
			return p.errorf(v, "%s %q: give a whole number", k.Value, v.Value)
		}
		if k.Value != "warmup" && n == 0 {
			return p.errorf(v, "%s %q: give a whole number (%s at least 1)", k.Value, v.Value, k.Value)
		}
		switch k.Value {
		case "count":
			s.Count = n
		case "max-count":
			s.MaxCount = n
		default:
			s.Warmup = n
		}
	case "gogc":
		n, err := strconv.Atoi(v.Value)
		if v.Value == "off" {
			n, err = -1, nil
		}
		if err != nil || n < -1 || n == 0 {
			return p.errorf(v, "gogc %q: give a positive percentage such as 100, or off", v.Value)
		}
		s.GOGC = n
	case "seed":
		n, err := strconv.ParseUint(v.Value, 10, 64)
		if err != nil {
			return p.errorf(v, "seed %q: give a whole number", v.Value)
		}
		s.Seed = n
	}
	return nil
}

// setting reads a setting that is a name, a percentage or a duration.
func (p *specParser) setting(k, v *yaml.Node) error {
	s := p.s
	switch k.Value {
	case "name":
		s.Name = v.Value
	case "ci", "max-steal":
		f, err := ParsePercent(v.Value)
		if err != nil || f <= 0 || f >= 1 {
			return p.errorf(v, "%s %q: give a percentage above 0 and below 100, such as 1%%", k.Value, v.Value)
		}
		if k.Value == "ci" {
			s.CI = f
		} else {
			s.MaxSteal = f
		}
	case "benchtime":
		d, err := time.ParseDuration(v.Value)
		if err != nil || d < 0 {
			return p.errorf(v, "benchtime %q: give a duration such as 150ms, or 0 for one run per repetition", v.Value)
		}
		s.Benchtime = d
	case "timeout":
		d, err := time.ParseDuration(v.Value)
		if err != nil || d <= 0 {
			return p.errorf(v, "timeout %q: give a duration such as 30s or 2m", v.Value)
		}
		s.Timeout = d
	case "profiles":
		if !slices.Contains([]string{"cell", "rep", "none"}, v.Value) {
			return p.errorf(v, "profiles %q: use cell (one per cell), rep (one per repetition) or none", v.Value)
		}
		s.Profiles = v.Value
	}
	return nil
}

func (p *specParser) scalarAxis(axis string, it *yaml.Node) error {
	s := p.s
	if it.Kind != yaml.ScalarNode {
		return p.errorf(it, "%s: expected a plain value", axis)
	}
	var err error
	switch axis {
	case "granularity":
		var g spill.Granularity
		if g, err = spill.ParseGranularity(it.Value); err == nil {
			s.Granularity = append(s.Granularity, g)
		}
	case "compression":
		var c spill.Compression
		if c, err = spill.ParseCompression(it.Value); err == nil {
			s.Compression = append(s.Compression, c)
		}
	case "reclaim":
		var r spill.Reclaim
		if r, err = spill.ParseReclaim(it.Value); err == nil {
			s.Reclaim = append(s.Reclaim, r)
		}
	case "backend":
		b := Backend(it.Value)
		if !slices.Contains([]Backend{BackendDir, BackendSpooled, BackendMemory}, b) {
			err = fmt.Errorf("backend %q not recognised; use dir, spooled or memory", it.Value)
		}
		s.Backends = append(s.Backends, b)
	case "schedule":
		var sc engine.Schedule
		if sc, err = engine.ParseSchedule(it.Value); err == nil {
			s.Schedules = append(s.Schedules, sc)
		}
	case "workers", "ring":
		n, perr := strconv.Atoi(it.Value)
		if perr != nil || n < 1 {
			err = fmt.Errorf("%s %q: give a whole number from 1", axis, it.Value)
		} else if axis == "workers" {
			s.Workers = append(s.Workers, n)
		} else {
			s.Rings = append(s.Rings, n)
			p.ringLines = append(p.ringLines, it)
		}
	}
	if err != nil {
		return p.errorf(it, "%v", err)
	}
	return nil
}

// thresholds reads a list of sizes, or a range "LO..HI xF" stepping by
// the factor F.
func (p *specParser) thresholds(k, v *yaml.Node) error {
	items, err := p.list(k, v)
	if err != nil {
		return err
	}
	for _, it := range items {
		lo, rest, isRange := strings.Cut(it.Value, "..")
		if !isRange {
			n, err := spill.ParseSize(it.Value)
			if err != nil || n <= 0 {
				return p.errorf(it, "threshold %q: give a positive size such as 64KiB, or a range such as 4KiB..64MiB x4", it.Value)
			}
			p.s.Thresholds = append(p.s.Thresholds, n)
			continue
		}
		hi, factor, _ := strings.Cut(rest, "x")
		from, err1 := spill.ParseSize(lo)
		to, err2 := spill.ParseSize(strings.TrimSpace(hi))
		f, err3 := strconv.ParseFloat(strings.TrimSpace(factor), 64)
		if err1 != nil || err2 != nil || err3 != nil || from <= 0 || to < from || f <= 1 || math.IsInf(f, 0) {
			return p.errorf(it, "threshold range %q: write LO..HI xF with 0 < LO <= HI and F > 1, such as 4KiB..64MiB x4", it.Value)
		}
		if n := math.Log(float64(to)/float64(from)) / math.Log(f); n > maxAxisValues {
			return p.errorf(it, "threshold range %q has about %.0f values, more than %d; give a larger factor", it.Value, n, maxAxisValues)
		}
		for t := float64(from); t <= float64(to)*1.0000001; t *= f {
			p.s.Thresholds = append(p.s.Thresholds, int64(math.Round(t)))
		}
	}
	return nil
}

func (p *specParser) workloads(k, v *yaml.Node) error {
	items, err := p.list(k, v)
	if err != nil {
		return err
	}
	for _, it := range items {
		var w engine.WorkloadSpec
		if it.Kind == yaml.ScalarNode {
			w.Name = it.Value
		} else {
			var raw struct {
				Name  string  `yaml:"name"`
				Items int     `yaml:"items"`
				Scale float64 `yaml:"scale"`
			}
			if err := strictDecode(it, &raw); err != nil {
				return p.errorf(it, "workload: %v; give name, items and scale", err)
			}
			w.Name, w.Items, w.Scale = raw.Name, raw.Items, raw.Scale
			if math.IsNaN(w.Scale) || math.IsInf(w.Scale, 0) {
				return p.errorf(p.keyLine(it, "scale"), "workload %s: scale %v; give a positive factor such as 0.25, or leave it out for 1", w.Name, w.Scale)
			}
		}
		if _, err := engine.NewWorkload(w); err != nil {
			return p.errorf(it, "%v", err)
		}
		p.s.Workloads = append(p.s.Workloads, w)
		p.workloadLines = append(p.workloadLines, it)
	}
	return nil
}

// rawFault is a fault of a spec as written.
type rawFault struct {
	Injector    string   `yaml:"injector"`
	Mode        string   `yaml:"mode"`
	Site        string   `yaml:"site"`
	After       string   `yaml:"after"`
	Nth         int      `yaml:"nth"`
	Persistent  bool     `yaml:"persistent"`
	Rule        string   `yaml:"rule"`
	Terms       string   `yaml:"terms"`
	Probability *float64 `yaml:"probability"`
	Latency     string   `yaml:"latency"`
	Workloads   []string `yaml:"workloads"`
	Thresholds  []string `yaml:"thresholds"`
	Quiet       bool     `yaml:"quiet"`
}

func (p *specParser) faults(k, v *yaml.Node) error {
	items, err := p.list(k, v)
	if err != nil {
		return err
	}
	for _, it := range items {
		var raw rawFault
		if it.Kind == yaml.ScalarNode {
			raw.Injector = it.Value
		} else if err := strictDecode(it, &raw); err != nil {
			return p.errorf(it, "fault: %v; give injector, mode and its knobs (site, after, nth, persistent, rule, terms, probability, latency, workloads, thresholds)", err)
		}
		f := FaultSpec{Injector: raw.Injector, Workloads: raw.Workloads, Quiet: raw.Quiet, Line: it.Line}
		for _, w := range raw.Workloads {
			if !slices.Contains(engine.Workloads, w) {
				return p.errorf(p.keyLine(it, "workloads"), "fault workloads: unknown workload %q; use %s", w, strings.Join(engine.Workloads, ", "))
			}
		}
		for _, t := range raw.Thresholds {
			n, err := spill.ParseSize(t)
			if err != nil || n <= 0 {
				return p.errorf(p.keyLine(it, "thresholds"), "fault thresholds: %q is not a positive size such as 2KiB", t)
			}
			f.Thresholds = append(f.Thresholds, n)
		}
		if f.Injector == "none" || f.Injector == "" {
			p.s.Faults = append(p.s.Faults, FaultSpec{Injector: "none", Workloads: raw.Workloads, Thresholds: f.Thresholds, Line: it.Line})
			continue
		}
		inj, err := injectors.ByName(raw.Injector)
		if err != nil {
			return p.errorf(it, "%v", err)
		}
		if f.Fault, err = p.faultKnobs(it, raw, inj); err != nil {
			return err
		}
		p.s.Faults = append(p.s.Faults, f)
	}
	return nil
}

// faultKnobs checks a fault's mode and knobs for injector inj, each
// against the line it was written on.
func (p *specParser) faultKnobs(it *yaml.Node, raw rawFault, inj injectors.Injector) (injectors.Fault, error) {
	f := injectors.Fault{Mode: injectors.Mode(raw.Mode), Site: spill.Site(raw.Site), Nth: raw.Nth,
		Persistent: raw.Persistent, Rule: raw.Rule, Terms: raw.Terms}
	var err error
	switch {
	case raw.Terms != "" && inj.Name() != "failpoint":
		return f, p.errorf(p.keyLine(it, "terms"), "terms are failpoint terms; injector %s takes a mode instead", inj.Name())
	case raw.Terms != "" && raw.Mode != "":
		return f, p.errorf(p.keyLine(it, "mode"), "mode %s and terms %q both given, and terms would win; give one of them", raw.Mode, raw.Terms)
	case raw.Terms != "":
		if err := injectors.ParseTerms(raw.Terms); err != nil {
			return f, p.errorf(p.keyLine(it, "terms"), "%v", err)
		}
	case !slices.Contains(inj.Modes(), f.Mode):
		return f, p.errorf(p.keyLine(it, "mode"), "injector %s has no mode %q; its modes are %v", raw.Injector, raw.Mode, inj.Modes())
	}
	if raw.Site != "" && !slices.Contains(spill.Sites, f.Site) {
		return f, p.errorf(p.keyLine(it, "site"), "unknown site %q; the sites are %v", raw.Site, spill.Sites)
	}
	if raw.Nth < 0 {
		return f, p.errorf(p.keyLine(it, "nth"), "nth %d: give the call to fail, counting from 1 (0 or leaving it out means the first)", raw.Nth)
	}
	if pr := raw.Probability; pr != nil {
		if math.IsNaN(*pr) || *pr < 0 || *pr > 1 {
			return f, p.errorf(p.keyLine(it, "probability"), "probability %v: give a fraction from 0 to 1, such as 0.25", *pr)
		}
		f.Probability = *pr
	}
	if raw.After != "" {
		if f.AfterBytes, err = spill.ParseSize(raw.After); err != nil || f.AfterBytes < 0 {
			return f, p.errorf(p.keyLine(it, "after"), "after %q: give a size of 0 or more, such as 256KiB", raw.After)
		}
	}
	if raw.Latency != "" {
		if f.Latency, err = time.ParseDuration(raw.Latency); err != nil || f.Latency < 0 {
			return f, p.errorf(p.keyLine(it, "latency"), "latency %q: give a duration of 0 or more, such as 1ms", raw.Latency)
		}
	}
	if raw.Rule != "" {
		if _, err := injectors.ParseRule(raw.Rule); err != nil {
			return f, p.errorf(p.keyLine(it, "rule"), "%v", err)
		}
	}
	return f, nil
}

// keyLine returns the value node of key in mapping n, for its line, or
// n itself when n has no such key.
func (p *specParser) keyLine(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
	}
	return n
}

// maxAxisValues and maxCells bound a spec's size: a range of more values,
// or a cross product of more cells, is a typo, and would fill memory
// before anything ran.
const (
	maxAxisValues = 1000
	maxCells      = 100000
)

// checkCells refuses a spec whose axes multiply to more than maxCells.
func (p *specParser) checkCells() error {
	s := p.s
	n := 1.0
	for _, k := range []int{len(s.Workloads), len(s.Thresholds), len(s.Granularity), len(s.Compression), len(s.Reclaim),
		len(s.Backends), len(s.Workers), len(s.Rings), len(s.Schedules), len(s.Faults)} {
		n *= float64(k)
	}
	if n > maxCells {
		return p.errorf(p.root, "the spec has %.0f cells, more than %d; give fewer values on its axes, or shard a smaller spec", n, maxCells)
	}
	return nil
}

// ParsePercent reads a share written as a percentage, "5%", or as a
// fraction, "0.05". A bare number of 1 or more is refused: "5" could mean
// either, and guessing wrong silently changes a gate by a factor of 100.
func ParsePercent(s string) (float64, error) {
	t := strings.TrimSpace(s)
	pct, isPct := strings.CutSuffix(t, "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
	switch {
	case err != nil || math.IsNaN(f) || math.IsInf(f, 0):
		return 0, fmt.Errorf("%q is not a percentage; write it as 5%% or 0.05", s)
	case isPct:
		return f / 100, nil
	case f >= 1:
		return 0, fmt.Errorf("%q is ambiguous; write %s%% for a percentage or a fraction below 1", s, t)
	}
	return f, nil
}

// strictDecode decodes a mapping node, refusing keys the struct lacks,
// with an error of one line.
func strictDecode(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	err = dec.Decode(v)
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	var msgs []string
	for _, e := range te.Errors {
		if _, rest, ok := strings.Cut(e, "field "); ok && strings.Contains(rest, " not found") {
			msgs = append(msgs, fmt.Sprintf("unknown key %q", strings.SplitN(rest, " ", 2)[0]))
			continue
		}
		if _, rest, ok := strings.Cut(e, ": "); ok {
			e = rest // drop yaml's "line N" of the re-marshalled fragment
		}
		msgs = append(msgs, e)
	}
	return errors.New(strings.Join(msgs, "; "))
}

// defaults fills axes the spec left out and checks combinations.
func (p *specParser) defaults(root *yaml.Node) error {
	s := p.s
	if err := p.externalDefaults(root); err != nil || s.Target != nil {
		return err
	}
	if len(s.Thresholds) == 0 {
		s.Thresholds = []int64{64 << 10}
	}
	if len(s.Granularity) == 0 {
		s.Granularity = []spill.Granularity{spill.Batch}
	}
	if len(s.Compression) == 0 {
		s.Compression = []spill.Compression{{}}
	}
	if len(s.Reclaim) == 0 {
		s.Reclaim = []spill.Reclaim{spill.Keep}
	}
	if len(s.Backends) == 0 {
		s.Backends = []Backend{BackendDir}
	}
	if len(s.Workers) == 0 {
		s.Workers = []int{2}
	}
	if len(s.Rings) == 0 {
		s.Rings = []int{engine.DefaultRingCapacity}
	}
	if len(s.Schedules) == 0 {
		s.Schedules = []engine.Schedule{engine.Seeded}
	}
	if s.MaxCount == 0 {
		s.MaxCount = s.Count
	}
	if s.MaxCount < s.Count {
		return p.errorf(root, "max-count %d is below count %d; give a max-count of at least count", s.MaxCount, s.Count)
	}
	if len(s.Workloads) == 0 {
		return p.errorf(root, "the spec runs no workload; add workload: [mix] (or tree, hol, bulk)")
	}
	if len(s.Faults) == 0 {
		s.Faults = []FaultSpec{{Injector: "none", Line: root.Line}}
	}
	// The seed may come after the axes in the file.
	for i := range s.Workloads {
		s.Workloads[i].Seed = s.Seed
	}
	for i := range s.Faults {
		s.Faults[i].Fault.Seed = s.Seed
	}
	for _, f := range s.Faults {
		if f.Injector == "none" {
			continue
		}
		inj, _ := injectors.ByName(f.Injector)
		for _, b := range s.Backends {
			if b == BackendMemory || (b == BackendSpooled && inj.Family() == injectors.Kernel) {
				return &SpecError{p.file, f.Line, fmt.Sprintf(
					"fault %s cannot run with backend %s: it needs the buffer to spill into the directory it prepares; use backend: [dir]", f, b)}
			}
		}
	}
	return nil
}
