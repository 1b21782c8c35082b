package reports

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// SurvivalRun is a line of survival.jsonl, as spillbench survive writes it.
type SurvivalRun struct {
	Sweep        string `json:"sweep"`
	Gran         string `json:"gran"`
	Backend      string `json:"backend"`
	Fault        string `json:"fault"`
	Persistent   bool   `json:"persistent"`
	At           int    `json:"at"`
	Ops          int    `json:"ops"`
	Injected     int    `json:"injected"`
	Site         string `json:"site"`
	ErrorType    string `json:"error_type"`
	ExitCode     int    `json:"exit_code"`
	Reached      string `json:"reached"`
	Recovered    bool   `json:"recovered"`
	Delivered    int    `json:"delivered"`
	Lost         int    `json:"lost"`
	Duplicate    int    `json:"duplicated"`
	Corrupt      int    `json:"corrupted"`
	Errors       int    `json:"errors"`
	ReportedLost int    `json:"reported_lost"`
	LossReported bool   `json:"loss_reported"`
	Unaccounted  int    `json:"unaccounted"`
	OverReported int    `json:"over_reported"`
	Silent       bool   `json:"silent"`
	Panicked     bool   `json:"panicked"`
}

// LoadSurvival reads a survival result directory.
func LoadSurvival(dir string) ([]SurvivalRun, Env, error) {
	var env Env
	b, err := os.ReadFile(filepath.Join(dir, "env.json"))
	if err != nil {
		return nil, env, fmt.Errorf("%s: %w: no env.json", dir, ErrNotResultDir)
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, env, fmt.Errorf("%s/env.json: %v", dir, err)
	}
	path := filepath.Join(dir, "survival.jsonl")
	f, err := os.Open(path)
	if err != nil {
		return nil, env, err
	}
	defer f.Close()
	var runs []SurvivalRun
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		var r SurvivalRun
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, env, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		runs = append(runs, r)
	}
	return runs, env, sc.Err()
}

// SurvivalDoc is the fault-survival document of survival runs as one
// Markdown file, without its figure: what spillbench survive --doc
// writes. WriteSurvivalDoc writes it with its figure.
func SurvivalDoc(runs []SurvivalRun, env Env, command string) []byte {
	d, _ := survivalDoc(runs, env, command, false)
	return d.markdown()
}

// WriteSurvivalDoc writes the fault-survival design document of survival
// runs into out: fault-survival.md, and its figure in fault-survival/.
func WriteSurvivalDoc(runs []SurvivalRun, env Env, out, command string) error {
	d, err := survivalDoc(runs, env, command, true)
	if err != nil {
		return err
	}
	return d.writeDesign(out, "fault-survival")
}

// survivalDoc builds the fault-survival document of runs, with its
// figure when figures is set.
func survivalDoc(runs []SurvivalRun, env Env, command string, figures bool) (*doc, error) {
	d := &doc{}
	d.h(1, "Fault survival of the spill buffer")
	if err := survivalSummary(d, runs, figures); err != nil {
		return nil, err
	}

	d.h(2, "Method")
	d.p("The sweeps drive the spill buffer directly with a fixed arrival order (160 items of 20 to 300 bytes, in blocks of 16 whose first item comes last, a 512-byte threshold; for the spooled backend, items 64 times larger in blocks of 128, so it rolls over to a file past 1 MiB), so a fault-free run makes the same K operations through the FS seam every time and operation k is always the same call. The mock injector fails call k once (transient: the driver carries on, as a caller that retries would) or every call from k on (persistent: the driver stops at the first error, as the engine does), for k from 1 to K+1, so the last run of each series is clean. A fault reached the caller when an error carrying its errno was returned; recovered when the buffer re-created its directory and carried on; absorbed when the buffer ignores it by design (an unlink of a name already gone). The first error of a run gives its typed error and its exit code (the engine's mapping of that error and of the run's ledger: 23 when no error came and items were lost, duplicated or corrupted).")
	d.p("Every run keeps a ledger. After the part of the run the sweep describes, the fault is lifted (a corrupt file stays corrupt), the items not yet inserted are inserted and everything is drained, carrying on past errors; if the fault kept the buffer from being made, it is made again. An item counts as lost only if the buffer never delivered it; every delivery is checked against the item it names (duplicated, corrupted). Every error the buffer returned, not only the first, is compared with the ledger: a prior-spills-lost error counts the items it puts at risk (every one of them lost is accounted for), a corrupt record reports lost items without a count, an I/O error says its items are still in memory. Wrong data no error accounts for (a duplicate, a corrupt delivery, or more items lost than the errors reported) makes a run silent, whatever errors came before it. A run counts as recovered when every item came out exactly once and intact.")

	operationSection(d, runs)
	byteSection(d, runs)
	corruptionSection(d, runs)

	d.h(2, "Reproduce")
	d.p("`%s` on %s (kernel %s, %s, %d cores, Go %s), commit `%s`.", command, env.Host, env.Kernel, env.CPU, env.NumCPU, env.GoVersion, short(env.Commit))
	return d, nil
}

// survivalTotals counts the runs that broke a promise of the buffer,
// and what the ledgers of every run came to.
type survivalTotals struct {
	panics, silent, unreported int
	// unaccounted: items lost, duplicated or corrupted that no error of
	// their run accounts for.
	unaccounted int
	// counted: runs where an error counted the items it put at risk (a
	// prior-spills-lost error); overRuns of them reported more than were
	// lost; reported and lost are their items. uncounted: runs where an
	// error said items were lost without a count (a corrupt record);
	// uncountedLost their items lost.
	counted, overRuns, reported, lost int
	uncounted, uncountedLost          int
	errorRuns, laterErrors            int // runs with an error; errors after a run's first
}

// totalSurvival adds up, over every run, the panics, the runs with wrong
// data no error accounts for, the faults that reached no one, and the
// losses errors reported against those the ledgers found.
func totalSurvival(runs []SurvivalRun) survivalTotals {
	var t survivalTotals
	for _, r := range runs {
		if r.Panicked {
			t.panics++
		}
		if r.Silent || r.Unaccounted > 0 {
			t.silent++
		}
		t.unaccounted += r.Unaccounted
		if r.Reached == "none" {
			t.unreported++
		}
		if r.Errors > 0 {
			t.errorRuns++
			t.laterErrors += r.Errors - 1
		}
		switch {
		case r.ReportedLost > 0:
			t.counted++
			t.reported += r.ReportedLost
			t.lost += r.Lost
		case r.LossReported:
			t.uncounted++
			t.uncountedLost += r.Lost
		}
		if r.OverReported > 0 {
			t.overRuns++
		}
	}
	return t
}

// survivalSummary writes the opening paragraph, the totals over every
// run, and, when figures is set, the figure of every sweep's outcomes.
func survivalSummary(d *doc, runs []SurvivalRun, figures bool) error {
	t := totalSurvival(runs)
	d.p("Every filesystem operation of a fault-free run, failed in turn, once and for good; every byte at which the first record write can be cut, the whole record included; every bit of a spill file flipped and every length it can be cut to. **%d runs: %d panics, %d unreported faults, and %d runs with wrong data no error accounts for (%d items lost beyond what the errors reported, duplicated or corrupted), counted over every run's whole ledger, after its first error too.**",
		len(runs), t.panics, t.unreported, t.silent, t.unaccounted)
	d.p("%d runs returned an error; %d more errors came after the first of their run, each compared with the ledger too. In %d runs an error said items were lost without a count (a corrupt record): %d items lost in them. In %d runs a prior-spills-lost error counted the items it put at risk: %d items at risk (the largest count of the run), %d lost; in %d of those runs fewer were lost than were at risk. The count is of the items in records written before the directory vanished. The error says they are at risk, not gone: the buffer's file is still open, and where the filesystem still serves it (as a local one does) the buffer delivers them when the caller carries on.",
		t.errorRuns, t.laterErrors, t.uncounted, t.uncountedLost, t.counted, t.reported, t.lost, t.overRuns)
	sweeps := survivalSweeps(runs)
	if !figures || len(sweeps) == 0 {
		return nil
	}
	p, err := SurvivalPlot(sweeps, "Outcome of every run, per sweep")
	if err != nil {
		return err
	}
	return d.fig("outcomes", "The runs of each sweep by outcome, on a log scale: reported, a typed error reached the caller; harmless, no error and every item delivered once and intact (the fault changed nothing, the buffer recovered or absorbed it, or the run was the fault-free last of its series); silent, wrong data no error accounts for, which must be 0.", p)
}

// survivalKey is a row of the survival tables.
type survivalKey struct{ gran, backend, fault string }

// survivalAgg is what the runs of a row of a survival table came to.
// Each sweep fills the counts its table shows (see its add method).
type survivalAgg struct {
	runs, ops, caller, recovered, absorbed, none, clean int
	lost, reported, unaccounted                         int
	types                                               []string
	exits                                               []int
}

// addLedger adds a run's ledger to its row.
func (a *survivalAgg) addLedger(r SurvivalRun) {
	a.lost += r.Lost
	a.reported += r.ReportedLost
	a.unaccounted += r.Unaccounted
}

// groupSurvival gathers the runs keep selects by granularity, backend
// and fault, adding each to its row with add, in the order of runs.
func groupSurvival(runs []SurvivalRun, keep func(SurvivalRun) bool, add func(*survivalAgg, SurvivalRun)) map[survivalKey]*survivalAgg {
	rows := map[survivalKey]*survivalAgg{}
	for _, r := range runs {
		if !keep(r) {
			continue
		}
		k := survivalKey{r.Gran, r.Backend, r.Fault}
		a := rows[k]
		if a == nil {
			a = &survivalAgg{}
			rows[k] = a
		}
		add(a, r)
	}
	return rows
}

// addOperation counts a run of the operation sweep: where its fault
// reached, whether every item was delivered, its typed errors and its
// nonzero exit codes.
func (a *survivalAgg) addOperation(r SurvivalRun) {
	a.runs++
	a.addLedger(r)
	a.ops = r.Ops
	switch r.Reached {
	case "caller":
		a.caller++
	case "recovered":
		a.recovered++
	case "absorbed":
		a.absorbed++
	case "none":
		a.none++
	}
	if r.Recovered {
		a.clean++
	}
	if r.ErrorType != "" && !slices.Contains(a.types, r.ErrorType) {
		a.types = append(a.types, r.ErrorType)
	}
	if r.ExitCode != 0 && !slices.Contains(a.exits, r.ExitCode) {
		a.exits = append(a.exits, r.ExitCode)
	}
}

// addByte counts a run of the byte sweep: whether every item was
// delivered and whether the fault reached the caller.
func (a *survivalAgg) addByte(r SurvivalRun) {
	a.runs++
	a.addLedger(r)
	if r.Recovered {
		a.clean++
	}
	if r.Reached == "caller" {
		a.caller++
	}
}

// addCorruption counts a run of the corruption sweep: reported (caller,
// with its typed error), harmless (clean) or silent (none).
func (a *survivalAgg) addCorruption(r SurvivalRun) {
	a.runs++
	a.addLedger(r)
	a.ops = r.Ops
	if r.ErrorType != "" {
		a.caller++
	} else if r.Recovered {
		a.clean++
	}
	if r.Silent || r.Unaccounted > 0 {
		a.none++
	}
	if r.ErrorType != "" && !slices.Contains(a.types, r.ErrorType) {
		a.types = append(a.types, r.ErrorType)
	}
}

// operationSection writes the Every operation section: a table of the
// transient faults, then one of the persistent faults.
func operationSection(d *doc, runs []SurvivalRun) {
	d.h(2, "Every operation")
	for _, persistent := range []bool{false, true} {
		name := "Transient faults (one call fails; the caller carries on)"
		if persistent {
			name = "Persistent faults (every call from k on fails; the caller stops)"
		}
		d.h(3, "%s", name)
		table := groupSurvival(runs, func(r SurvivalRun) bool { return r.Sweep == "operation" && r.Persistent == persistent }, (*survivalAgg).addOperation)
		keys := slices.SortedFunc(mapKeys(table), func(a, b survivalKey) int {
			return strings.Compare(a.gran+a.backend+a.fault, b.gran+b.backend+b.fault)
		})
		var rows [][]string
		for _, k := range keys {
			a := table[k]
			slices.Sort(a.types)
			slices.Sort(a.exits)
			rows = append(rows, []string{k.gran, k.backend, k.fault, fmt.Sprint(a.ops), fmt.Sprint(a.runs),
				fmt.Sprint(a.caller), fmt.Sprint(a.recovered), fmt.Sprint(a.absorbed), fmt.Sprint(a.none),
				fmt.Sprint(a.clean), fmt.Sprint(a.lost), fmt.Sprint(a.reported), fmt.Sprint(a.unaccounted),
				orDash(strings.Join(a.types, ", ")), orDash(fmt.Sprint(a.exits))})
		}
		d.t([]string{"gran", "backend", "fault", "K", "runs", "reached caller", "recovered", "absorbed", "unreported", "all items delivered in the end", "items lost", "reported lost", "unaccounted", "typed errors", "exit codes"}, rows)
	}
}

// byteSection writes the Every byte of a record write section.
func byteSection(d *doc, runs []SurvivalRun) {
	d.h(2, "Every byte of a record write")
	table := groupSurvival(runs, func(r SurvivalRun) bool { return r.Sweep == "byte" }, (*survivalAgg).addByte)
	var rows [][]string
	for _, k := range slices.SortedFunc(mapKeys(table), func(a, b survivalKey) int { return strings.Compare(a.gran+a.backend, b.gran+b.backend) }) {
		a := table[k]
		rows = append(rows, []string{k.gran, k.backend, fmt.Sprint(a.runs), fmt.Sprint(a.caller), fmt.Sprint(a.clean), fmt.Sprint(a.lost), fmt.Sprint(a.unaccounted)})
	}
	d.p("The first record write fails with ENOSPC after b bytes reached the file, for every b from 0 to the record's length, both ends included (at the length, the whole record reached the file and the write still failed): the header and the payload cut everywhere. The driver carries on; the next record is written at the same offset, over the partial one.")
	d.t([]string{"gran", "backend", "cuts", "reached caller", "all items delivered in the end", "items lost", "unaccounted"}, rows)
}

// corruptionSection writes the Every bit and every length of a spill
// file section.
func corruptionSection(d *doc, runs []SurvivalRun) {
	d.h(2, "Every bit and every length of a spill file")
	table := groupSurvival(runs, func(r SurvivalRun) bool { return r.Sweep == "corruption" }, (*survivalAgg).addCorruption)
	var rows [][]string
	for _, k := range slices.SortedFunc(mapKeys(table), func(a, b survivalKey) int { return strings.Compare(a.gran+a.fault, b.gran+b.fault) }) {
		a := table[k]
		slices.Sort(a.types)
		rows = append(rows, []string{k.gran, k.fault, fmt.Sprint(a.ops), fmt.Sprint(a.runs), fmt.Sprint(a.caller), fmt.Sprint(a.clean), fmt.Sprint(a.none), fmt.Sprint(a.lost), orDash(strings.Join(a.types, ", "))})
	}
	d.p("The spill file as it stands before the last block's head arrives (older records already delivered, the newest still needed) is damaged, then drained. Damage to a record still needed must be reported; damage to bytes no longer needed may pass unnoticed, but no run may deliver a wrong item, or lose one, without an error that says so. After the first error the driver carries on, so the items lost are those behind the damaged record that the buffer can no longer deliver.")
	d.t([]string{"gran", "damage", "file bytes", "runs", "reported (typed error)", "harmless (all items intact)", "silent (wrong data, no error accounts for it)", "items lost", "typed errors"}, rows)
}
