package bench

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/spillbench/spillbench/spill"
)

// An external target is a second kind of target beside the engine: a
// command someone else wrote that spills to disk, run once per
// repetition from a template the runner fills per cell. It writes the
// same result contract (External/... lines in results.txt, outcomes in
// outcomes.jsonl), so reports, compare and the fault matrix read it as
// they read the engine. Kernel mechanisms reach it (its spill directory
// is on their mount); mock and failpoint wrap the engine's spill.FS seam,
// which a separate program never calls, and are recorded as not
// applicable.
//
//	target:
//	  name: sort
//	  command: LC_ALL=C sort -S {threshold}b -T {spill_dir} -o {output} {input}
//	  clean-exit: [2]         # exit codes of an error the program reported
//	  time-limit: 60s         # one run's limit (default: the spec's timeout)
//	  verify: digest          # or {command: "cmp {output} ..."}
//	input:
//	  - {name: lines-8MiB, generate: lines, size: 8MiB}
//	  - {name: words, file: /usr/share/dict/words}
//	  - {name: numbers, command: "seq 1 200000 | shuf --random-source=/dev/zero > {input}"}
//	threshold: [256KiB, 4MiB]
//	fault: [none, {injector: tmpfs, mode: enospc, after: 1MiB}]

// KindExternal runs an external target's command.
const KindExternal Kind = "External"

// Target is the external command of a spec.
type Target struct {
	Name    string
	Command string // template: see Placeholders
	// CleanExit are the exit codes with which the program reports an
	// error it handled; any other non-zero code, or death by a signal,
	// is a crash.
	CleanExit []int
	TimeLimit time.Duration
	// VerifyCommand, if set, checks a run's output (exit 0: verified);
	// otherwise the output's SHA-256 must equal a fault-free reference
	// run's.
	VerifyCommand string
	Line          int
}

// Input is one value of an external spec's input axis.
type Input struct {
	Name     string
	File     string // an existing file
	Generate string // a built-in generator: "lines"
	Size     int64  // how much it generates
	Command  string // a generator command writing {input}
	Line     int
}

// Placeholders are what a command template may name, as {name}; {{ and
// }} are literal braces.
var Placeholders = []string{"spill_dir", "threshold", "input", "output", "scratch"}

var placeholderRE = regexp.MustCompile(`\{\{|\}\}|\{[^{}\s]*\}`)

// checkTemplate reports the first placeholder of tmpl that allowed does
// not list.
func checkTemplate(tmpl string, allowed []string) error {
	for _, m := range placeholderRE.FindAllString(tmpl, -1) {
		if m == "{{" || m == "}}" {
			continue
		}
		if name := m[1 : len(m)-1]; !slices.Contains(allowed, name) {
			return fmt.Errorf("unknown placeholder %s; use %s (write {{ and }} for literal braces)", m, braced(allowed))
		}
	}
	return nil
}

func braced(names []string) string {
	var b []string
	for _, n := range names {
		b = append(b, "{"+n+"}")
	}
	return strings.Join(b, ", ")
}

// fillTemplate replaces each placeholder with its value quoted for sh.
func fillTemplate(tmpl string, values map[string]string) string {
	return placeholderRE.ReplaceAllStringFunc(tmpl, func(m string) string {
		switch m {
		case "{{":
			return "{"
		case "}}":
			return "}"
		}
		return shellQuote(values[m[1:len(m)-1]])
	})
}

// shellQuote quotes s as one sh word.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// target reads the target: a mapping.
func (p *specParser) target(k, v *yaml.Node) error {
	var raw struct {
		Name      string `yaml:"name"`
		Command   string `yaml:"command"`
		CleanExit []int  `yaml:"clean-exit"`
		TimeLimit string `yaml:"time-limit"`
		Verify    any    `yaml:"verify"` // read from the node, with its line
	}
	if v.Kind != yaml.MappingNode {
		return p.errorf(v, "target: give a mapping with name, command, clean-exit, time-limit and verify")
	}
	if err := strictDecode(v, &raw); err != nil {
		return p.errorf(v, "target: %v; give name, command, clean-exit, time-limit and verify", err)
	}
	t := &Target{Name: raw.Name, Command: raw.Command, CleanExit: raw.CleanExit, Line: v.Line}
	find := func(key string) *yaml.Node {
		for i := 0; i+1 < len(v.Content); i += 2 {
			if v.Content[i].Value == key {
				return v.Content[i+1]
			}
		}
		return nil
	}
	line := func(key string) *yaml.Node { // where to point an error about key
		if n := find(key); n != nil {
			return n
		}
		return v
	}
	switch {
	case t.Name == "" || strings.ContainsAny(t.Name, "/= \t"):
		return p.errorf(line("name"), "target name %q: give a name without /, = or spaces, such as sort", t.Name)
	case strings.TrimSpace(t.Command) == "":
		return p.errorf(v, "target %s has no command; give one such as sort -S {threshold}b -T {spill_dir} -o {output} {input}", t.Name)
	}
	if err := checkTemplate(t.Command, Placeholders); err != nil {
		return p.errorf(line("command"), "target command: %v", err)
	}
	if !strings.Contains(t.Command, "{spill_dir}") {
		return p.errorf(line("command"), "target command never names {spill_dir}: the faults could not reach its spill files")
	}
	for _, c := range t.CleanExit {
		if c < 1 || c > 255 {
			return p.errorf(line("clean-exit"), "clean-exit %d: give exit codes from 1 to 255", c)
		}
	}
	if raw.TimeLimit != "" {
		d, err := time.ParseDuration(raw.TimeLimit)
		if err != nil || d <= 0 {
			return p.errorf(line("time-limit"), "time-limit %q: give a duration such as 30s", raw.TimeLimit)
		}
		t.TimeLimit = d
	}
	if n := find("verify"); n != nil {
		if err := p.verify(t, n); err != nil {
			return err
		}
	}
	p.s.Target = t
	return nil
}

// verify reads a target's verify: digest (the default) or {command: ...}.
func (p *specParser) verify(t *Target, n *yaml.Node) error {
	switch {
	case n.Kind == yaml.ScalarNode && n.Value == "digest":
		return nil
	case n.Kind == yaml.MappingNode:
		var raw struct {
			Command string `yaml:"command"`
		}
		if err := strictDecode(n, &raw); err != nil || strings.TrimSpace(raw.Command) == "" {
			return p.errorf(n, "verify: give digest, or {command: ...} that exits 0 for a good {output}")
		}
		if err := checkTemplate(raw.Command, []string{"input", "output", "scratch"}); err != nil {
			return p.errorf(n, "verify command: %v", err)
		}
		t.VerifyCommand = raw.Command
		return nil
	}
	return p.errorf(n, "verify %q: give digest, or {command: ...} that exits 0 for a good {output}", n.Value)
}

// inputs reads the input axis of an external spec.
func (p *specParser) inputs(k, v *yaml.Node) error {
	items, err := p.list(k, v)
	if err != nil {
		return err
	}
	for _, it := range items {
		var raw struct {
			Name     string `yaml:"name"`
			File     string `yaml:"file"`
			Generate string `yaml:"generate"`
			Size     string `yaml:"size"`
			Command  string `yaml:"command"`
		}
		if it.Kind != yaml.MappingNode {
			return p.errorf(it, "input: give a mapping such as {name: lines-8MiB, generate: lines, size: 8MiB}")
		}
		if err := strictDecode(it, &raw); err != nil {
			return p.errorf(it, "input: %v; give name and one of file, generate (with size) or command", err)
		}
		in := Input{Name: raw.Name, File: raw.File, Generate: raw.Generate, Command: raw.Command, Line: it.Line}
		if in.Name == "" || strings.ContainsAny(in.Name, "/= \t") {
			return p.errorf(it, "input name %q: give a name without /, = or spaces", in.Name)
		}
		n := 0
		for _, s := range []string{raw.File, raw.Generate, raw.Command} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			return p.errorf(it, "input %s: give exactly one of file, generate or command", in.Name)
		}
		if in.Generate != "" {
			if in.Generate != "lines" {
				return p.errorf(it, "input %s: generate %q; the generator is lines", in.Name, in.Generate)
			}
			size, err := spill.ParseSize(raw.Size)
			if err != nil || size <= 0 {
				return p.errorf(it, "input %s: size %q: give a positive size such as 8MiB", in.Name, raw.Size)
			}
			in.Size = size
		} else if raw.Size != "" {
			return p.errorf(it, "input %s: size goes with generate only", in.Name)
		}
		if in.Command != "" {
			if err := checkTemplate(in.Command, []string{"input"}); err != nil {
				return p.errorf(it, "input %s command: %v", in.Name, err)
			}
			if !strings.Contains(in.Command, "{input}") {
				return p.errorf(it, "input %s: the command must write {input}", in.Name)
			}
		}
		for _, o := range p.s.Inputs {
			if o.Name == in.Name {
				return p.errorf(it, "input %s is given twice", in.Name)
			}
		}
		p.s.Inputs = append(p.s.Inputs, in)
	}
	return nil
}

// engineOnly are the axes that set the engine and mean nothing to an
// external target.
var engineOnly = []string{"workload", "granularity", "compression", "reclaim", "backend", "workers", "ring", "schedule"}

// externalDefaults checks an external spec: a target with inputs, and
// none of the engine's axes.
func (p *specParser) externalDefaults(root *yaml.Node) error {
	s := p.s
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		if s.Target != nil && slices.Contains(engineOnly, k.Value) {
			return p.errorf(k, "%s sets the engine and does not apply to the external target %s; leave it out", k.Value, s.Target.Name)
		}
		if s.Target == nil && k.Value == "input" {
			return p.errorf(k, "input is for an external target; add target: {name: ..., command: ...}, or use workload for the engine")
		}
	}
	if s.Target == nil {
		return nil
	}
	if len(s.Inputs) == 0 {
		return p.errorf(root, "target %s has no input; add input: [{name: lines-8MiB, generate: lines, size: 8MiB}]", s.Target.Name)
	}
	if s.Target.TimeLimit == 0 {
		s.Target.TimeLimit = s.Timeout
	}
	if len(s.Thresholds) == 0 {
		s.Thresholds = []int64{64 << 10}
	}
	if len(s.Faults) == 0 {
		s.Faults = []FaultSpec{{Injector: "none", Line: root.Line}}
	}
	if s.MaxCount == 0 {
		s.MaxCount = s.Count
	}
	if s.MaxCount < s.Count {
		return p.errorf(root, "max-count %d is below count %d; give a max-count of at least count", s.MaxCount, s.Count)
	}
	for i := range s.Faults {
		s.Faults[i].Fault.Seed = s.Seed
		if len(s.Faults[i].Workloads) > 0 {
			return &SpecError{p.file, s.Faults[i].Line, "fault workloads: an external target has inputs, not workloads; limit a fault with thresholds"}
		}
	}
	return nil
}

// externalCells expands an external spec: input x threshold x fault.
func (s *Spec) externalCells() []Cell {
	var cells []Cell
	for i := range s.Inputs {
		for _, t := range s.Thresholds {
			for _, f := range s.Faults {
				if len(f.Thresholds) > 0 && !slices.Contains(f.Thresholds, t) {
					continue
				}
				cells = append(cells, Cell{Kind: KindExternal, Target: s.Target, Input: &s.Inputs[i], Threshold: t, Fault: f})
			}
		}
	}
	return cells
}

// externalKeys are an external cell's name keys: the input stands where
// the engine's workload does, so reports group by it the same way.
func (c Cell) externalKeys() [][2]string {
	return [][2]string{
		{"target", c.Target.Name},
		{"workload", c.Input.Name},
		{"threshold", spill.FormatSize(c.Threshold)},
		{"fault", c.Fault.String()},
	}
}

// exitClass says what an exit status means for a target: "ok", "clean"
// (an error the program reported) or "crash".
func (t *Target) exitClass(code int, signaled bool) string {
	switch {
	case signaled:
		return "crash"
	case code == 0:
		return "ok"
	case slices.Contains(t.CleanExit, code):
		return "clean"
	}
	return "crash"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
