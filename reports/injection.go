package reports

import (
	"fmt"
	"slices"
	"strings"
)

// mechStats is what the inject sweep measured of one mechanism.
type mechStats struct {
	name, family string
	requires     []string
	unavailable  string
	modes        map[string]*modeStats
	setup        []float64 // setup+teardown ms, every run
	sites        []string
}

type modeStats struct {
	runs, fired, lost int
	errnos, types     []string
	exits             []int
	offsets, calls    []int64
	kernel            bool // the errno came from a real syscall, seen at the seam
}

func addUnique[T comparable](xs []T, x T) []T {
	if slices.Contains(xs, x) {
		return xs
	}
	return append(xs, x)
}

// InjectionDoc writes injection-mechanisms.md (and its plot) from the
// result directory of spillbench inject into out.
func InjectionDoc(s *Set, out, command string) error {
	mechs := aggregateMechanisms(s.Outcomes())
	names := slices.Sorted(mapKeys(mechs))
	d := &doc{}
	env := s.Dirs[0].Env
	d.h(1, "Fault injection mechanisms, measured")
	target := "the engine"
	if externalOnly(s) {
		target = "the external target " + strings.Join(keyValues(s, "target"), ", ")
	}
	d.p("The reference compared its ENOSPC and temp-vanish mechanisms on paper (realism, cost, CI compatibility as opinions). Here every mechanism ran %s under every fault mode it claims, %d times each, on the host described at the end, and each column below is computed from those runs.", target, s.Dirs[0].Env.Recorded/max(1, env.Cells))

	overhead := armedOverhead(s, names)
	injectionSummary(d, mechs, names, overhead)
	injectionModes(d, mechs, names)
	if err := injectionMatrix(d, s.Outcomes()); err != nil {
		return err
	}
	uses := recommendMechanisms(mechs, names)
	injectionRecommendations(d, uses)
	injectionAgainstReference(d, mechs, overhead, uses)

	d.h(2, "How this was made")
	d.p("`%s` on %s (kernel %s, %s, %d cores, Go %s), commit `%s`, %s.", command, env.Host, env.Kernel, env.CPU, env.NumCPU, env.GoVersion, short(env.Commit), env.Start.UTC().Format("2006-01-02"))

	return d.writeDesign(out, "injection-mechanisms")
}

// aggregateMechanisms gathers the outcomes of an inject sweep by
// mechanism and fault mode, leaving out the cells without a mechanism
// and the quiet ones (armed, never firing). Every list that is printed
// comes out sorted.
func aggregateMechanisms(outcomes []Outcome) map[string]*mechStats {
	mechs := map[string]*mechStats{}
	for _, o := range outcomes {
		inj, mode, ok := strings.Cut(o.Keys["fault"], ":")
		if !ok || mode == "quiet" {
			continue
		}
		m := mechs[inj]
		if m == nil {
			m = &mechStats{name: inj, modes: map[string]*modeStats{}}
			mechs[inj] = m
		}
		m.add(mode, o)
	}
	for _, m := range mechs {
		slices.Sort(m.setup)
		slices.Sort(m.sites)
		for _, ms := range m.modes {
			slices.Sort(ms.exits)
		}
	}
	return mechs
}

// add counts one outcome of m under a fault mode. A skipped cell counts
// no run: it says why the mechanism is unavailable here.
func (m *mechStats) add(mode string, o Outcome) {
	if o.Status == "skipped" || o.Status == "not-applicable" {
		m.unavailable = o.Reason
		return
	}
	ms := m.modes[mode]
	if ms == nil {
		ms = &modeStats{}
		m.modes[mode] = ms
	}
	ms.runs++
	m.setup = append(m.setup, o.SetupMS+o.TeardownMS)
	ms.lost += int(o.Lost + o.Duplicated + o.Corrupted)
	if o.ErrorType != "" {
		ms.types = addUnique(ms.types, o.ErrorType)
	}
	ms.exits = addUnique(ms.exits, o.ExitCode)
	if f := o.Fault; f != nil {
		m.family = f.Family
		m.requires = f.Requires
		if f.Fired {
			m.addFired(ms, f)
		}
	}
}

// addFired records where and how a fault that fired in a run of mode ms
// struck: its offset and call, its errno, the seam site it reached, and
// whether the errno came from a real syscall.
func (m *mechStats) addFired(ms *modeStats, f *FaultOutcome) {
	ms.fired++
	ms.offsets = append(ms.offsets, f.Offset)
	ms.calls = append(ms.calls, int64(f.Call))
	if f.Errno != "" {
		ms.errnos = addUnique(ms.errnos, f.Errno)
	}
	if f.Site != "" {
		m.sites = addUnique(m.sites, f.Site)
	}
	ms.kernel = ms.kernel || f.Family == "kernel" && f.Errno != ""
}

// armedOverhead is the throughput of each mechanism armed but not firing
// (its quiet cells) as a ratio to the cells without an injector; a
// mechanism without both has none.
func armedOverhead(s *Set, names []string) map[string]string {
	unit := throughputUnit(s)
	base := sample(s, targetCells+" /fault:none", unit)
	overhead := map[string]string{}
	for _, n := range names {
		q := sample(s, fmt.Sprintf("%s /fault:%q", targetCells, n+":quiet"), unit)
		if q != nil && base != nil {
			overhead[n] = ratioText(q, base)
		}
	}
	return overhead
}

// injectionSummary writes the Summary section: a row per mechanism.
func injectionSummary(d *doc, mechs map[string]*mechStats, names []string, overhead map[string]string) {
	d.h(2, "Summary")
	var rows [][]string
	for _, n := range names {
		m := mechs[n]
		fired, tried := m.firedModes()
		rows = append(rows, []string{n, orDash(m.family), orDash(strings.Join(m.requires, ", ")), m.availability(),
			fmt.Sprintf("%d of %d", fired, tried), m.realism(), m.setupCost(), orDash(overhead[n]), orDash(strings.Join(m.sites, ", "))})
	}
	d.t([]string{"mechanism", "family", "needs", "available here", "modes that fired", "realism", "setup+teardown ms median [min, max]", "throughput armed, not firing (x no injector)", "seam sites reached"}, rows)
}

// availability is "yes", or "no: " and why the mechanism did not run.
func (m *mechStats) availability() string {
	if m.unavailable != "" {
		return "no: " + m.unavailable
	}
	return "yes"
}

// firedModes is how many of the modes m ran in fired at least once.
func (m *mechStats) firedModes() (fired, tried int) {
	for _, ms := range m.modes {
		tried++
		if ms.fired > 0 {
			fired++
		}
	}
	return fired, tried
}

// realism says where m's errors come from: a real syscall when a kernel
// errno was seen at the seam, else what its family implies.
func (m *mechStats) realism() string {
	if m.realErrno() {
		return "real syscall (kernel errno)"
	}
	switch m.family {
	case "kernel":
		return "real syscalls; no errno reached the engine"
	case "userspace":
		return "synthesized at the seam"
	}
	return "- (did not run)"
}

// setupCost is the median setup+teardown time of m's runs in ms, with
// its range; m.setup is sorted.
func (m *mechStats) setupCost() string {
	if len(m.setup) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f [%.1f, %.1f]", median(m.setup), m.setup[0], m.setup[len(m.setup)-1])
}

// injectionModes writes the Every mode section: a row per mechanism and
// fault mode.
func injectionModes(d *doc, mechs map[string]*mechStats, names []string) {
	d.h(2, "Every mode")
	var rows [][]string
	for _, n := range names {
		m := mechs[n]
		for _, mode := range slices.Sorted(mapKeys(m.modes)) {
			ms := m.modes[mode]
			rows = append(rows, []string{n, mode, fmt.Sprintf("%d/%d", ms.fired, ms.runs), orDash(strings.Join(ms.errnos, ", ")),
				spread(ms.offsets), spread(ms.calls), orDash(strings.Join(ms.types, ", ")), fmt.Sprint(ms.exits), fmt.Sprint(ms.lost)})
		}
	}
	d.p("Determinism is the spread of the byte offset and the call index at which the first failure was seen, over the runs: one value is exact; a range means the fault lands somewhere else run to run.")
	d.t([]string{"mechanism", "mode", "fired", "errno", "offset of first failure", "call of first failure", "typed error", "exit codes", "items lost"}, rows)
}

// injectionMatrix adds the figure of the outcome of every cell that
// injected a fault, by mechanism and mode; none when there is nothing
// to draw.
func injectionMatrix(d *doc, outcomes []Outcome) error {
	var faults []Outcome
	for _, o := range outcomes {
		if f := o.Keys["fault"]; f != "none" && !strings.HasSuffix(f, ":quiet") && f != "" {
			faults = append(faults, o)
		}
	}
	if p, width, err := FaultMatrix(faults, "Outcome by mechanism and mode"); err == nil {
		return d.figWidth("matrix", "Outcome of each mechanism and mode, by majority over its runs.", p, width)
	}
	return nil
}

// injectionRecommendations writes the Recommendations section: the rules
// and what they pick for each use.
func injectionRecommendations(d *doc, uses mechanismUses) {
	d.h(2, "Recommendations")
	d.p("Rules, applied to the columns above. Unit tests: available without privileges, every mode deterministic (one offset), setup under 5 ms. CI integration tests: available here, errno from a real syscall, setup under 100 ms, and every mode it claims fired. Pre-release soak: errno from a real syscall, the most modes that fired, determinism not required.")
	d.t([]string{"use", "mechanisms, by the rules"}, [][]string{
		{"unit tests", orDash(strings.Join(uses.unit, ", "))},
		{"CI integration tests", orDash(strings.Join(uses.ci, ", "))},
		{"pre-release soak", orDash(strings.Join(uses.soak, ", "))},
	})
}

// injectionAgainstReference writes the section that sets the measured
// mechanisms against the reference's ranking, a paragraph for each of
// its claims whose mechanism ran.
func injectionAgainstReference(d *doc, mechs map[string]*mechStats, overhead map[string]string, uses mechanismUses) {
	d.h(2, "Against the reference's ranking")
	var notes []string
	if m := mechs["tmpfs"]; m != nil {
		notes = append(notes, fmt.Sprintf("The reference marked tmpfs `size=N` blocked on CI (it needs root). Here it was available: %s.", yesNo(m.unavailable == "")))
	}
	if m := mechs["fuse"]; m != nil {
		notes = append(notes, fmt.Sprintf("It rejected FUSE as blocked on every CI tile and costly. Here, mounted with mount(2) as root: available %s; setup+teardown median %.1f ms; armed but not firing, throughput %s of no injector.", yesNo(m.unavailable == ""), medianOr(m.setup), orDash(overhead["fuse"])))
	}
	if m := mechs["failpoint"]; m != nil {
		notes = append(notes, fmt.Sprintf("It rejected failpoints for the production-source changes and build fragmentation. Ours wrap the seam and link only under a build tag: available in this build %s.", yesNo(m.unavailable == "")))
	}
	if m := mechs["fallocate"]; m != nil {
		notes = append(notes, fmt.Sprintf("It recommended the mock writer for unit tests and a fallocate filler for one Linux integration test. The rules above put the mock writer in unit tests %s and fallocate in CI integration %s.", yesNo(slices.Contains(uses.unit, "mock")), yesNo(slices.Contains(uses.ci, "fallocate"))))
	}
	if m := mechs["vanish"]; m != nil {
		notes = append(notes, "For temp-vanish it recommended mocks plus real unlink and rmdir, and parked unmount as untestable in CI. Here every vanish mode, unmount included, ran for real; most fail nothing, as an open descriptor outlives its name, its directory and a lazy unmount (see the matrix), which is the reason the spill file is opened anonymous.")
	}
	for _, n := range notes {
		d.p("%s", n)
	}
}

// spread writes a set of values as one value or a range with its count of
// distinct values.
func spread(xs []int64) string {
	if len(xs) == 0 {
		return "-"
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	distinct := len(slices.Compact(slices.Clone(s)))
	if distinct == 1 {
		return fmt.Sprint(s[0])
	}
	return fmt.Sprintf("%d..%d (%d values)", s[0], s[len(s)-1], distinct)
}

// medianOr is the median of xs, or 0 for none.
func medianOr(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return median(xs)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
