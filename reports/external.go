package reports

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// External targets (bench's KindExternal) write the engine's contract:
// External/target=T/workload=INPUT/threshold=N/fault=F result lines,
// with the input in the workload's place, and outcomes that carry an
// "external" object. The report reads them as it reads the engine's;
// what differs is here: their throughput unit, the efficiency figure
// (no time inside spill calls can be seen from outside a process), and
// the external-targets design document.

// targetCells selects the cells of a target, the engine's or an
// external program's, in a benchproc filter.
const targetCells = ".name:(Engine OR External)"

// ExternalOutcome is the "external" object of an outcome: the fields
// reports use.
type ExternalOutcome struct {
	Template        string   `json:"template"`
	Command         string   `json:"command"`
	Signal          string   `json:"signal"`
	Verdict         string   `json:"verdict"`
	OutputBytes     int64    `json:"output_bytes"`
	OutputDigest    string   `json:"output_digest"`
	ReferenceDigest string   `json:"reference_digest"`
	StderrTail      []string `json:"stderr_tail"`
	ReportedErrno   string   `json:"reported_errno"`
	MaxRSS          int64    `json:"max_rss_bytes"`
	OthersPct       float64  `json:"others_cpu_pct"`
	SpillPeak       int64    `json:"spill_peak_bytes"`
	SpillWritten    int64    `json:"spill_written_bytes"`
	SpillFiles      int      `json:"spill_files"`
	InputBytes      int64    `json:"input_bytes"`
}

// throughputUnit is the unit throughput is read in: the engine's items
// per second, or, for a set of external targets alone, input bytes per
// second (an unknown program has no items).
func throughputUnit(s *Set) string {
	for _, r := range s.Results() {
		if _, ok := r.Value("items/s"); ok {
			return "items/s"
		}
	}
	for _, r := range s.Results() {
		if _, ok := r.Value("input-B/s"); ok {
			return "input-B/s"
		}
	}
	return "items/s"
}

// externalOnly reports whether the set's target cells are all external.
func externalOnly(s *Set) bool {
	ext := false
	for _, r := range s.Results() {
		switch kind, _, _ := strings.Cut(string(r.Name.Full()), "/"); kind {
		case "Engine":
			return false
		case "External":
			ext = true
		}
	}
	return ext
}

// externalEfficiency is the efficiency section for external targets. The
// time a program spends in its spill I/O cannot be seen from outside, so
// the figure is a bound instead: the time RawFS took to write, and read
// back once, as many bytes as the target wrote to its spill directory,
// in the same kind of directory, as a share of the target's wall time.
func externalEfficiency(d *doc, s *Set) error {
	d.p("An external program's time inside its spill I/O cannot be seen from outside it. The figure here is a floor instead: RawFS, measured beside each fault-free repetition, writes as many bytes as the target wrote to its spill directory (seen through inotify) in 1 MiB calls in the same kind of directory and reads them back once; its time is the least any program could spend on that spill, shown as a share of the target's wall time.")
	t, err := Summarize(s, Query{Filter: ".name:External /fault:none", Unit: "spill-bytes/op"})
	if err != nil {
		return err
	}
	var rows [][]string
	for i, row := range t.Rows {
		c := t.Cells[i][0]
		if c == nil || c.Summary.Center <= 0 {
			continue
		}
		name := row.StringValues()
		keys := nameKeys(name)
		var filter []string
		for _, kv := range keys {
			filter = append(filter, fmt.Sprintf("/%s:%q", kv[0], kv[1]))
		}
		wall := sample(s, ".name:External "+strings.Join(filter, " "), "sec/op")
		raw := sample(s, ".name:RawFS "+strings.Join(filter, " "), "sec/op")
		if wall == nil || raw == nil || wall.Summary.Center <= 0 {
			continue
		}
		rows = append(rows, []string{"`" + strings.TrimPrefix(dropKey(name, "fault"), "External/") + "`", formatBytes(c.Summary.Center),
			formatValue(wall.Summary.Center, "sec/op"), formatValue(raw.Summary.Center, "sec/op"),
			fmt.Sprintf("%.1f%%", 100*raw.Summary.Center/wall.Summary.Center)})
	}
	if len(rows) == 0 {
		d.p("No fault-free external cell of this run spilled.")
		return nil
	}
	d.t([]string{"cell", "spilled per run (median)", "target wall time (median)", "RawFS write+read (median)", "RawFS / wall"}, rows)
	return nil
}

// mkstempRE matches a temporary file's name as mkstemp makes it.
var mkstempRE = regexp.MustCompile(`^([A-Za-z]+)[A-Za-z0-9]{6}$`)

// spillPathRE matches a path inside an injector's work dir
// (spillbench-inj-<mechanism>-<pid>-<random>), as a target's messages
// print it.
var spillPathRE = regexp.MustCompile(`/[^\s:'"]*spillbench-inj-[a-z]+(-[0-9]+)+(/[^\s:'"]*)?`)

// sanitizeMessage replaces the work dir paths in a target's message,
// which differ every run, with {spill_dir} and the file's name.
func sanitizeMessage(s string) string {
	return spillPathRE.ReplaceAllStringFunc(s, func(p string) string {
		parts := strings.Split(p, "/")
		// mkstemp's six random characters differ every run too.
		last := mkstempRE.ReplaceAllString(parts[len(parts)-1], "${1}XXXXXX")
		switch {
		case last == "mnt" || last == "spill" || strings.HasPrefix(last, "spillbench-inj-"):
			return "{spill_dir}"
		}
		return "{spill_dir}/" + last
	})
}

// faultRow is what the runs of one fault did to one target.
type faultRow struct {
	fault  string
	class  map[string]int
	exits  []int
	errnos []string // what the injector recorded
	// reported are the errnos the target's stderr named.
	reported []string
	// verdict counts the runs by what they left as output: verified,
	// corrupt (a run that exited 0), partial (a failed run left a file
	// that is not the reference output) or missing.
	verdict map[string]int
	message string
	reason  string
	types   []string // the engine's typed errors
	runs    int
}

// faultRows gathers outcomes with a fault by their fault key.
func faultRows(outcomes []Outcome) map[string]*faultRow {
	rows := map[string]*faultRow{}
	for _, o := range outcomes {
		f := o.Keys["fault"]
		if f == "" || f == "none" || strings.HasSuffix(f, ":quiet") {
			continue
		}
		r := rows[f]
		if r == nil {
			r = &faultRow{fault: f, class: map[string]int{}, verdict: map[string]int{}}
			rows[f] = r
		}
		r.runs++
		r.class[FaultClass(o)]++
		if o.Status == "skipped" || o.Status == "not-applicable" {
			r.reason = o.Reason
			continue
		}
		r.exits = addUnique(r.exits, o.ExitCode)
		if o.ErrorType != "" {
			r.types = addUnique(r.types, o.ErrorType)
		}
		if o.Fault != nil && o.Fault.Errno != "" {
			r.errnos = addUnique(r.errnos, o.Fault.Errno)
		}
		if e := o.External; e != nil {
			r.verdict[outputVerdict(o)]++
			if e.ReportedErrno != "" {
				r.reported = addUnique(r.reported, e.ReportedErrno)
			}
			if len(e.StderrTail) > 0 && r.message == "" {
				r.message = sanitizeMessage(e.StderrTail[len(e.StderrTail)-1])
			}
		}
	}
	for _, r := range rows {
		slices.Sort(r.exits)
		slices.Sort(r.errnos)
		slices.Sort(r.reported)
		slices.Sort(r.types)
	}
	return rows
}

// majority is the class most runs had, ties to the earlier class.
func (r *faultRow) majority() string {
	best, n := "", 0
	for _, c := range outcomeClasses {
		if r.class[c.name] > n {
			best, n = c.name, r.class[c.name]
		}
	}
	return best
}

func (r *faultRow) classText() string {
	m := r.majority()
	if r.class[m] == r.runs {
		return m
	}
	return fmt.Sprintf("%s (%d of %d)", m, r.class[m], r.runs)
}

// errnoText is the errno the injector recorded and, where the target's
// stderr named another, the one it reported: "ENOTCONN → ECONNABORTED".
func (r *faultRow) errnoText() string {
	injected, reported := strings.Join(r.errnos, ", "), strings.Join(r.reported, ", ")
	switch {
	case reported == "" || reported == injected:
		return orDash(injected)
	case injected == "":
		return reported
	}
	return injected + " → " + reported
}

// outputVerdict is what a run left as output. A failed run's wrong file
// is partial, not corrupt: the program said it failed, so its output
// promised nothing (GNU sort opens its output before it sorts, and a
// failed sort leaves it empty). Only a run that exited 0 corrupts.
func outputVerdict(o Outcome) string {
	v := o.External.Verdict
	if v == "corrupt" && o.ExitCode != 0 {
		return "partial"
	}
	return v
}

func (r *faultRow) verdictText() string {
	var parts []string
	for _, v := range []string{"verified", "corrupt", "partial", "missing"} {
		if n := r.verdict[v]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d/%d", v, n, r.runs))
		}
	}
	return orDash(strings.Join(parts, ", "))
}

func intsText(xs []int) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprint(x))
	}
	return orDash(strings.Join(s, ", "))
}

// externalFaultTable is the fault table of external targets: what each
// fault did to the program, in its own words.
func externalFaultTable(d *doc, faults []Outcome) {
	rows := faultRows(faults)
	var out [][]string
	for _, f := range slices.Sorted(mapKeys(rows)) {
		r := rows[f]
		msg := r.message
		if r.reason != "" {
			msg = r.reason
		}
		out = append(out, []string{"`" + f + "`", r.classText(), intsText(r.exits), r.errnoText(), r.verdictText(), orDash(inlineCodeText(msg))})
	}
	d.t([]string{"fault", "outcome", "exit codes", "errno", "output", "last stderr line (or why not run)"}, out)
}

// inlineCodeText quotes a message as code, where it is one.
func inlineCodeText(s string) string {
	if s == "" || strings.HasPrefix(s, "not applicable") {
		return s
	}
	return "`" + strings.ReplaceAll(s, "`", "'") + "`"
}
