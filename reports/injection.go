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
	mechs := map[string]*mechStats{}
	get := func(name string) *mechStats {
		m := mechs[name]
		if m == nil {
			m = &mechStats{name: name, modes: map[string]*modeStats{}}
			mechs[name] = m
		}
		return m
	}
	for _, o := range s.Outcomes() {
		inj, mode, ok := strings.Cut(o.Keys["fault"], ":")
		if !ok || mode == "quiet" {
			continue
		}
		m := get(inj)
		if o.Status == "skipped" {
			m.unavailable = o.Reason
			continue
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
		}
	}
	names := slices.Sorted(mapKeys(mechs))
	d := &doc{}
	env := s.Dirs[0].Env
	d.h(1, "Fault injection mechanisms, measured")
	d.p("The reference compared its ENOSPC and temp-vanish mechanisms on paper (realism, cost, CI compatibility as opinions). Here every mechanism ran the engine under every fault mode it claims, %d times each, on the host described at the end, and each column below is computed from those runs.", s.Dirs[0].Env.Recorded/max(1, env.Cells))

	// Overhead: quiet cells against the baseline.
	base := sample(s, ".name:Engine /fault:none", "items/s")
	overhead := map[string]string{}
	for _, n := range names {
		q := sample(s, fmt.Sprintf(".name:Engine /fault:%q", n+":quiet"), "items/s")
		if q != nil && base != nil {
			overhead[n] = ratioText(q, base)
		}
	}

	d.h(2, "Summary")
	var rows [][]string
	for _, n := range names {
		m := mechs[n]
		avail := "yes"
		if m.unavailable != "" {
			avail = "no: " + m.unavailable
		}
		var fired, tried int
		var realism string
		switch m.family {
		case "kernel":
			realism = "real syscalls; no errno reached the engine"
		case "userspace":
			realism = "synthesized at the seam"
		default:
			realism = "- (did not run)"
		}
		for _, ms := range m.modes {
			tried++
			if ms.fired > 0 {
				fired++
			}
			if ms.kernel {
				realism = "real syscall (kernel errno)"
			}
		}
		slices.Sort(m.setup)
		cost := "-"
		if len(m.setup) > 0 {
			cost = fmt.Sprintf("%.1f [%.1f, %.1f]", median(m.setup), m.setup[0], m.setup[len(m.setup)-1])
		}
		slices.Sort(m.sites)
		rows = append(rows, []string{n, orDash(m.family), orDash(strings.Join(m.requires, ", ")), avail,
			fmt.Sprintf("%d of %d", fired, tried), realism, cost, orDash(overhead[n]), orDash(strings.Join(m.sites, ", "))})
	}
	d.t([]string{"mechanism", "family", "needs", "available here", "modes that fired", "realism", "setup+teardown ms median [min, max]", "throughput armed, not firing (x no injector)", "seam sites reached"}, rows)

	d.h(2, "Every mode")
	rows = nil
	for _, n := range names {
		m := mechs[n]
		for _, mode := range slices.Sorted(mapKeys(m.modes)) {
			ms := m.modes[mode]
			slices.Sort(ms.exits)
			rows = append(rows, []string{n, mode, fmt.Sprintf("%d/%d", ms.fired, ms.runs), orDash(strings.Join(ms.errnos, ", ")),
				spread(ms.offsets), spread(ms.calls), orDash(strings.Join(ms.types, ", ")), fmt.Sprint(ms.exits), fmt.Sprint(ms.lost)})
		}
	}
	d.p("Determinism is the spread of the byte offset and the call index at which the first failure was seen, over the runs: one value is exact; a range means the fault lands somewhere else run to run.")
	d.t([]string{"mechanism", "mode", "fired", "errno", "offset of first failure", "call of first failure", "typed error", "exit codes", "items lost"}, rows)

	var faults []Outcome
	for _, o := range s.Outcomes() {
		if f := o.Keys["fault"]; f != "none" && !strings.HasSuffix(f, ":quiet") && f != "" {
			faults = append(faults, o)
		}
	}
	if p, width, err := FaultMatrix(faults, "Outcome by mechanism and mode"); err == nil {
		if err := d.figWidth("matrix", "Outcome of each mechanism and mode, by majority over its runs.", p, width); err != nil {
			return err
		}
	}

	d.h(2, "Recommendations")
	d.p("Rules, applied to the columns above. Unit tests: available without privileges, every mode deterministic (one offset), setup under 5 ms. CI integration tests: available here, errno from a real syscall, setup under 100 ms, and every mode it claims fired. Pre-release soak: errno from a real syscall, the most modes that fired, determinism not required.")
	pick := func(ok func(*mechStats) bool) []string {
		var out []string
		for _, n := range names {
			if ok(mechs[n]) {
				out = append(out, n)
			}
		}
		return out
	}
	deterministic := func(m *mechStats) bool {
		for _, ms := range m.modes {
			if ms.fired > 0 && spread(ms.offsets) != fmt.Sprint(ms.offsets[0]) {
				return false
			}
		}
		return len(m.modes) > 0
	}
	real := func(m *mechStats) bool {
		for _, ms := range m.modes {
			if ms.kernel {
				return true
			}
		}
		return false
	}
	allFired := func(m *mechStats) bool {
		for _, ms := range m.modes {
			if ms.fired == 0 {
				return false
			}
		}
		return len(m.modes) > 0
	}
	unit := pick(func(m *mechStats) bool {
		return m.unavailable == "" && !slices.Contains(m.requires, "root") && deterministic(m) && medianOr(m.setup) < 5 && len(m.setup) > 0
	})
	ci := pick(func(m *mechStats) bool {
		return m.unavailable == "" && real(m) && len(m.setup) > 0 && medianOr(m.setup) < 100 && allFired(m)
	})
	soak := pick(func(m *mechStats) bool { return m.unavailable == "" && real(m) })
	slices.SortStableFunc(soak, func(a, b string) int { return len(mechs[b].modes) - len(mechs[a].modes) })
	d.t([]string{"use", "mechanisms, by the rules"}, [][]string{
		{"unit tests", orDash(strings.Join(unit, ", "))},
		{"CI integration tests", orDash(strings.Join(ci, ", "))},
		{"pre-release soak", orDash(strings.Join(soak, ", "))},
	})

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
		notes = append(notes, fmt.Sprintf("It recommended the mock writer for unit tests and a fallocate filler for one Linux integration test. The rules above put the mock writer in unit tests %s and fallocate in CI integration %s.", yesNo(slices.Contains(unit, "mock")), yesNo(slices.Contains(ci, "fallocate"))))
	}
	if m := mechs["vanish"]; m != nil {
		notes = append(notes, "For temp-vanish it recommended mocks plus real unlink and rmdir, and parked unmount as untestable in CI. Here every vanish mode, unmount included, ran for real; most fail nothing, as an open descriptor outlives its name, its directory and a lazy unmount (see the matrix), which is the reason the spill file is opened anonymous.")
	}
	for _, n := range notes {
		d.p("%s", n)
	}

	d.h(2, "How this was made")
	d.p("`%s` on %s (kernel %s, %s, %d cores, Go %s), commit `%s`, %s.", command, env.Host, env.Kernel, env.CPU, env.NumCPU, env.GoVersion, short(env.Commit), env.Start.UTC().Format("2006-01-02"))

	return d.writeDesign(out, "injection-mechanisms")
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
